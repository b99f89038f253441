// JsonDoc/JsonRef: reading, key order, duplicate keys, equality with nlohmann's semantics and the
// content hash. (ParseJsonDoc against nlohmann's parser, document by document, is in
// json_parse_test.cc.)
#include "core/json_doc.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/json.h"

namespace driftguard::core {
namespace {

JsonDoc Parse(std::string_view text) {
  StatusOr<JsonDoc> doc = ParseJsonDoc(text, "test");
  EXPECT_TRUE(doc.ok()) << doc.status();
  return doc.ok() ? std::move(*doc) : JsonDoc();
}

TEST(JsonDocTest, ReadsValuesMembersInKeyOrderAndItems) {
  JsonDoc doc =
      Parse(R"({"z":1,"a":{"y":[true,null,-2,2.5,"s"]},"m":"text","b":18446744073709551615})");
  JsonRef root = doc.root();
  ASSERT_TRUE(root.is_object());
  ASSERT_EQ(root.size(), 4u);
  std::vector<std::string> keys;
  for (size_t i = 0; i < root.size(); ++i) keys.emplace_back(root.key(i));
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "b", "m", "z"}));
  EXPECT_EQ(root.value(3).type(), JsonType::kUint);
  EXPECT_EQ(root.Find("z").uint_value(), 1u);
  EXPECT_EQ(root.Find("b").uint_value(), 18446744073709551615u);
  EXPECT_EQ(root.Find("m").string(), "text");
  EXPECT_EQ(root.Find("m").string_or("x"), "text");
  EXPECT_EQ(root.Find("z").string_or("x"), "x");

  JsonRef list = root.Find("a").Find("y");
  ASSERT_TRUE(list.is_array());
  ASSERT_EQ(list.size(), 5u);
  EXPECT_TRUE(list[0].is_boolean());
  EXPECT_TRUE(list[0].boolean());
  EXPECT_TRUE(list[1].is_null());
  EXPECT_EQ(list[2].type(), JsonType::kInt);
  EXPECT_EQ(list[2].int_value(), -2);
  EXPECT_EQ(list[3].type(), JsonType::kFloat);
  EXPECT_EQ(list[3].float_value(), 2.5);
  EXPECT_EQ(list[4].string(), "s");
  EXPECT_EQ(list[4].type_name(), std::string("string"));
  EXPECT_EQ(list.type_name(), std::string("array"));

  // Absent members, and reads through non-objects, are null.
  EXPECT_TRUE(root.Find("nope").is_null());
  EXPECT_TRUE(root.Find("m").Find("x").is_null());
  EXPECT_TRUE(JsonRef().Find("a").is_null());
  EXPECT_EQ(JsonRef().size(), 0u);
  EXPECT_EQ(JsonRef().string(), "");
  EXPECT_EQ(root.Find("a").Find("y").ToJson(), Json::parse(R"([true,null,-2,2.5,"s"])"));
}

TEST(JsonDocTest, DuplicateKeysKeepTheLastValueInEveryObjectSize) {
  // Small objects are sorted by insertion, large ones by std::stable_sort: both keep the last.
  for (int n : {3, 40}) {
    std::string text = "{";
    for (int i = 0; i < n; ++i)
      text += "\"k" + std::to_string(n - i) + "\":" + std::to_string(i) + ",";
    text += "\"k1\":\"last\",\"k2\":{\"x\":1},\"k2\":[2]}";
    JsonDoc doc = Parse(text);
    EXPECT_EQ(doc.root().ToJson(), Json::parse(text)) << n;
    EXPECT_EQ(doc.root().size(), static_cast<size_t>(n)) << n;
    EXPECT_EQ(doc.root().Find("k1").string(), "last") << n;
    EXPECT_EQ(doc.root().Find("k2").ToJson(), Json::parse("[2]")) << n;
  }
}

TEST(JsonDocTest, EqualityFollowsNlohmann) {
  // Pairs across number types and containers; JsonRef == must say what Json == says.
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {"1", "1.0"},
      {"1", "1"},
      {"-1", "18446744073709551615"},
      {"9223372036854775808", "-9223372036854775808"},
      {"0", "-0"},
      {"0.0", "-0.0"},
      {"1e300", "1e300"},
      {"2", "3"},
      {"\"1\"", "1"},
      {"true", "1"},
      {"null", "null"},
      {"null", "{}"},
      {"[]", "{}"},
      {"[1,2]", "[2,1]"},
      {"[1,2]", "[1,2.0]"},
      {R"({"a":1,"b":2})", R"({"b":2,"a":1})"},
      {R"({"a":1})", R"({"a":1,"b":null})"},
      {R"({"a":[{"x":"y"}]})", R"({"a":[{"x":"y"}]})"},
      {R"({"a":[{"x":"y"}]})", R"({"a":[{"x":"z"}]})"},
      {R"({"a":1,"a":2})", R"({"a":2})"},
  };
  for (const auto& [x, y] : pairs) {
    JsonDoc dx = Parse(x);
    JsonDoc dy = Parse(y);
    const bool want = Json::parse(x) == Json::parse(y);
    EXPECT_EQ(dx.root() == dy.root(), want) << x << " vs " << y;
    EXPECT_EQ(dy.root() == dx.root(), want) << y << " vs " << x;
  }
}

TEST(JsonDocTest, HashIsTheSameForTheSameContentInAnyDocument) {
  JsonDoc a = Parse(R"({"spec":{"replicas":3,"ports":[{"port":80},{"port":443}]},"x":"y"})");
  JsonDoc b = Parse(R"({"x":"y","spec":{"ports":[{"port":80},{"port":443}],"replicas":3}})");
  JsonDoc c = JsonDoc::FromJson(a.root().ToJson());
  EXPECT_EQ(a.root().hash(), b.root().hash());
  EXPECT_EQ(a.root().hash(), c.root().hash());
  EXPECT_EQ(a.root().Find("spec").hash(), b.root().Find("spec").hash());
  // Different content gives a different hash here (a hint only in general: collisions are
  // possible, so callers confirm with ==).
  JsonDoc d = Parse(R"({"x":"y","spec":{"ports":[{"port":443},{"port":80}],"replicas":3}})");
  EXPECT_NE(a.root().hash(), d.root().hash());
  JsonDoc e = Parse(R"({"x":"y","spec":{"ports":[{"port":80},{"port":443}],"replicas":4}})");
  EXPECT_NE(a.root().hash(), e.root().hash());
}

TEST(JsonDocTest, FromJsonKeepsEveryValueAndType) {
  Json value = Json::parse(R"({"b":[1,-1,1.5,"s",null,true,{}],"a":{"c":[]}})");
  value["u"] = Json::number_unsigned_t{7};
  value["i"] = Json::number_integer_t{7};
  JsonDoc doc = JsonDoc::FromJson(value);
  Json back = doc.root().ToJson();
  EXPECT_EQ(back, value);
  EXPECT_TRUE(back["u"].is_number_unsigned());
  EXPECT_TRUE(back["i"].is_number_integer());
  EXPECT_EQ(doc.root().Find("i").type(), JsonType::kInt);
  EXPECT_GT(doc.MemoryBytes(), 0u);
  // The null document.
  EXPECT_TRUE(JsonDoc().root().is_null());
  EXPECT_EQ(JsonDoc().root().ToJson(), Json());
}

TEST(JsonDocTest, ErrorsNameTheSource) {
  StatusOr<JsonDoc> doc = ParseJsonDoc("{\"a\":", "AdmissionReview");
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.status().message(),
            "AdmissionReview: invalid JSON at byte 6: [json.exception.parse_error.101] parse error "
            "at line 1, column 6: syntax error while parsing value - unexpected end of input; "
            "expected '[', '{', or a literal");
}

}  // namespace
}  // namespace driftguard::core
