// ParseJson and ParseJsonDoc against their oracle, nlohmann's own parser: for every document all
// three must agree on success, on the tree (values and exact number types) and on the error
// message.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/json_doc.h"
#include "tests/support/test_util.h"

namespace driftguard::core {
namespace {

// "" when `a` and `b` are the same tree with the same types (unsigned vs signed integers, the sign
// of a float zero); otherwise where they first differ.
std::string TypedDifference(const Json& a, const Json& b, const std::string& at = "") {
  if (a.type() != b.type()) {
    return at + ": type " + a.type_name() + "/" + std::to_string(static_cast<int>(a.type())) +
           " vs " + b.type_name() + "/" + std::to_string(static_cast<int>(b.type()));
  }
  if (a.is_object()) {
    if (a.size() != b.size()) return at + ": object sizes differ";
    for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib) {
      if (ia.key() != ib.key()) return at + ": keys " + ia.key() + " vs " + ib.key();
      std::string d = TypedDifference(*ia, *ib, at + "/" + ia.key());
      if (!d.empty()) return d;
    }
    return "";
  }
  if (a.is_array()) {
    if (a.size() != b.size()) return at + ": array sizes differ";
    for (size_t i = 0; i < a.size(); ++i) {
      std::string d = TypedDifference(a[i], b[i], at + "/" + std::to_string(i));
      if (!d.empty()) return d;
    }
    return "";
  }
  if (a.is_number_float()) {
    double x = a.get<double>(), y = b.get<double>();
    if (x != y || std::signbit(x) != std::signbit(y))
      return at + ": " + a.dump() + " vs " + b.dump();
    return "";
  }
  if (a != b) return at + ": " + a.dump() + " vs " + b.dump();
  return "";
}

// The message ParseJson gives for invalid text, derived from nlohmann's exception.
std::string OracleError(std::string_view text) {
  try {
    [[maybe_unused]] Json j = Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& e) {
    return "input: invalid JSON at byte " + std::to_string(e.byte) + ": " + e.what();
  } catch (const std::exception& e) {
    return std::string("input: invalid JSON: ") + e.what();
  }
  return "";
}

// Asserts ParseJson(text) is exactly what nlohmann returns; true when the text was valid JSON.
bool ExpectSameAsOracle(const std::string& text, const std::string& label) {
  Json oracle = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  StatusOr<Json> got = ParseJson(text);
  if (oracle.is_discarded()) {
    EXPECT_FALSE(got.ok()) << label << ": accepted " << got->dump() << " from: " << text;
    if (!got.ok()) {
      EXPECT_EQ(got.status().message(), OracleError(text)) << label;
      EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument) << label;
    }
    return false;
  }
  EXPECT_TRUE(got.ok()) << label << ": " << got.status() << " from: " << text;
  if (got.ok()) {
    EXPECT_EQ(TypedDifference(*got, oracle), "") << label << " from: " << text;
  }
  return true;
}

// The same for ParseJsonDoc, whose tree is read back through JsonRef::ToJson.
void ExpectDocSameAsOracle(const std::string& text, const std::string& label) {
  Json oracle = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  StatusOr<JsonDoc> got = ParseJsonDoc(text, "input");
  if (oracle.is_discarded()) {
    ASSERT_FALSE(got.ok()) << label << ": accepted " << got->root().ToJson().dump()
                           << " from: " << text;
    EXPECT_EQ(got.status().message(), OracleError(text)) << label;
    return;
  }
  ASSERT_TRUE(got.ok()) << label << ": " << got.status() << " from: " << text;
  EXPECT_EQ(TypedDifference(got->root().ToJson(), oracle), "") << label << " from: " << text;
  // Equal to itself, and its hash is the hash of the same value built from the Json tree.
  EXPECT_TRUE(got->root() == got->root()) << label;
  EXPECT_EQ(got->root().hash(), JsonDoc::FromJson(oracle).root().hash()) << label;
}

TEST(ParseJsonTest, EdgeCasesMatchNlohmann) {
  const std::vector<std::string> docs = {
      // numbers and their types
      "0", "-0", "[-0]", "[0,-0]", "{\"a\":-0}", "[-0 ]", "-0.0", "0.0", "-0e0", "1", "-1",
      "9223372036854775807", "9223372036854775808", "18446744073709551615", "18446744073709551616",
      "-9223372036854775808", "-9223372036854775809", "123456789012345678901234567890",
      "-123456789012345678901234567890", "1.5", "1E2", "1e+2", "1e-2", "0.1",
      "1.7976931348623157e308", "4.9e-324", "2.2250738585072014e-308", "1e400", "-1e400", "1e-400",
      "[1e400]", "01", "-", "1.", ".5", "+1", "0x10", "NaN", "Infinity",
      // strings, escapes, unicode
      "\"\"", "\"web-0\"", "[\"-0\", \"x-0,\"]", "\"\\u0000\"", "\"\\u00e9\\u4e2d\"",
      "\"\\ud83d\\ude00\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"\\uZZZZ\"",
      "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\x\"", "\"caf\xc3\xa9\"", "\"\xf0\x9f\x98\x80\"",
      "\"\xff\"", "\"\xc3\x28\"", "\"\xed\xa0\x80\"", "\"\xc0\xaf\"", "\"a\tb\"", "\"a\nb\"",
      "\"\x01\"", "\"\x7f\"", "\"unterminated",
      // structure
      "", " ", "\n", "null", "true", "false", "nul", "tru", "[]", "{}", "[1,]", "{\"a\":1,}",
      "[1 2]", "{\"a\" 1}", "{1:2}", "true false", "[1]]", "{\"a\":1}}",
      "  {\n\"a\" : [ 1 , 2 ] }\n", "\t[\r\n1\t]\r\n", "{\"a\":1,\"a\":2}",
      "{\"a\":{\"x\":1},\"b\":0,\"a\":[2]}", "\xEF\xBB\xBF{\"a\":1}", "\xEF\xBB\xBF",
      "{\"z\":1,\"a\":2,\"m\":{\"y\":[],\"b\":{}}}", "[null,true,false,{},[]]", "{\"\":1}",
      "{\"a/b~c\":1}"};
  for (size_t i = 0; i < docs.size(); ++i) {
    ExpectSameAsOracle(docs[i], "doc " + std::to_string(i));
    ExpectDocSameAsOracle(docs[i], "JsonDoc " + std::to_string(i));
  }
}

TEST(ParseJsonTest, DeepNestingMatchesNlohmann) {
  for (int depth : {100, 1023, 1024, 1025, 5000}) {
    std::string text = std::string(depth, '[') + "1" + std::string(depth, ']');
    EXPECT_TRUE(ExpectSameAsOracle(text, "arrays " + std::to_string(depth)));
    std::string objects;
    for (int i = 0; i < depth; ++i) objects += "{\"k\":";
    objects += "-0" + std::string(depth, '}');
    EXPECT_TRUE(ExpectSameAsOracle(objects, "objects " + std::to_string(depth)));
    ExpectDocSameAsOracle(text, "JsonDoc arrays " + std::to_string(depth));
    ExpectDocSameAsOracle(objects, "JsonDoc objects " + std::to_string(depth));
  }
  // Unbalanced deep input is an error on both paths.
  EXPECT_FALSE(ExpectSameAsOracle(std::string(2000, '[') + "1" + std::string(1999, ']'), "open"));
}

TEST(ParseJsonTest, ErrorNamesSourceAndByteOffset) {
  StatusOr<Json> got = ParseJson("{\"a\": tru}", "config.json");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().message(),
            "config.json: invalid JSON at byte 10: [json.exception.parse_error.101] parse error at "
            "line 1, column 10: syntax error while parsing value - invalid literal; last read: "
            "'\"a\": tru}'");
}

TEST(ParseJsonTest, KeepsExactNumberTypes) {
  StatusOr<Json> got = ParseJson("[0, -0, 7, -7, 18446744073709551615, 18446744073709551616, 1.0]");
  ASSERT_TRUE(got.ok()) << got.status();
  const Json& a = *got;
  EXPECT_TRUE(a[0].is_number_unsigned());
  EXPECT_TRUE(a[1].is_number_integer() && !a[1].is_number_unsigned());
  EXPECT_TRUE(a[2].is_number_unsigned());
  EXPECT_EQ(a[3].get<int64_t>(), -7);
  EXPECT_EQ(a[4].get<uint64_t>(), 18446744073709551615ull);
  EXPECT_TRUE(a[5].is_number_float());
  EXPECT_EQ(a[5].get<double>(), 18446744073709551616.0);
  EXPECT_TRUE(a[6].is_number_float());
  EXPECT_EQ(a.dump(), "[0,0,7,-7,18446744073709551615,1.8446744073709552e+19,1.0]");
}

// Random documents written as text (so they can hold duplicate keys, -0, escapes, odd spacing).
class DocWriter {
 public:
  explicit DocWriter(uint32_t seed) : rng_(seed) {}

  std::string Document() {
    std::string out;
    Value(out, 0);
    if (Chance(10)) out.insert(0, Space());
    return out;
  }

 private:
  bool Chance(int percent) { return Pick(100) < percent; }
  int Pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

  std::string Space() {
    static const char* kSpaces[] = {"", "", "", " ", "\n", "\t", "\r\n  "};
    return kSpaces[Pick(7)];
  }

  void Value(std::string& out, int depth) {
    int kind = depth > 6 ? Pick(5) : Pick(8);
    switch (kind) {
      case 0:
        Number(out);
        return;
      case 1:
      case 2:
        String(out);
        return;
      case 3:
        out += Pick(3) == 0 ? "null" : (Pick(2) == 0 ? "true" : "false");
        return;
      case 4:
        Number(out);
        return;
      case 5:
      case 6: {
        out += '{';
        int n = Pick(6);
        for (int i = 0; i < n; ++i) {
          if (i > 0) out += ',';
          out += Space();
          // A small key space makes duplicate keys common.
          static const char* kKeys[] = {"a",   "b", "name",    "metadata", "spec",
                                        "x/y", "~", "\\u00e9", "",         "managedFields"};
          out += '"';
          out += kKeys[Pick(10)];
          out += '"';
          out += Space() + ":" + Space();
          Value(out, depth + 1);
        }
        out += Space() + "}";
        return;
      }
      default: {
        out += '[';
        int n = Pick(6);
        for (int i = 0; i < n; ++i) {
          if (i > 0) out += ',' + Space();
          Value(out, depth + 1);
        }
        out += ']';
        return;
      }
    }
  }

  void Number(std::string& out) {
    switch (Pick(9)) {
      case 0:
        out += std::to_string(Pick(1000));
        return;
      case 1:
        out += "-" + std::to_string(Pick(1000));
        return;
      case 2:
        out += std::to_string(std::uniform_int_distribution<uint64_t>()(rng_));
        return;
      case 3:
        out += std::to_string(std::uniform_int_distribution<int64_t>(INT64_MIN, -1)(rng_));
        return;
      case 4: {
        static const char* kOdd[] = {"-0",
                                     "0",
                                     "-0.0",
                                     "1e308",
                                     "1e-320",
                                     "99999999999999999999",
                                     "-99999999999999999999",
                                     "1E+2",
                                     "3.141592653589793238"};
        out += kOdd[Pick(9)];
        return;
      }
      default: {
        char buf[64];
        double v = std::uniform_real_distribution<double>(-1e6, 1e6)(rng_);
        static const char* kFormats[] = {"%.17g", "%.3f", "%e", "%.1f"};
        std::snprintf(buf, sizeof buf, kFormats[Pick(4)], v);
        out += buf;
        return;
      }
    }
  }

  void String(std::string& out) {
    static const char* kPieces[] = {"web",
                                    "-0",
                                    "2026-11-24T21:58:02Z",
                                    "\\n",
                                    "\\\"",
                                    "\\\\",
                                    "\\/",
                                    "\\u0041",
                                    "\\u00e9",
                                    "\\ud83d\\ude00",
                                    "caf\xc3\xa9",
                                    " ",
                                    "\\t",
                                    "\\u0000",
                                    "\xe4\xb8\xad",
                                    "app.kubernetes.io/name"};
    out += '"';
    int n = Pick(5);
    for (int i = 0; i < n; ++i) out += kPieces[Pick(16)];
    out += '"';
  }

  std::mt19937 rng_;
};

TEST(ParseJsonTest, RandomDocumentsMatchNlohmann) {
  DocWriter writer(20261125);
  int valid = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string doc = writer.Document();
    // Every 7th document is damaged by one byte, so both paths meet errors too.
    if (i % 7 == 3 && !doc.empty()) doc[(i * 31) % doc.size()] = "\x01}]\"\\:,x"[i % 8];
    valid += ExpectSameAsOracle(doc, "random " + std::to_string(i)) ? 1 : 0;
    ExpectDocSameAsOracle(doc, "random doc " + std::to_string(i));
    if (HasFailure()) break;
  }
  EXPECT_GT(valid, 2000);  // the generator mostly writes valid JSON
}

TEST(ParseJsonTest, TestdataJsonFilesMatchNlohmann) {
  int files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(DRIFTGUARD_TESTDATA_DIR)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".json") continue;
    std::string text = testing::ReadFile(entry.path().string());
    ExpectSameAsOracle(text, entry.path().string());
    ExpectDocSameAsOracle(text, entry.path().string());
    ++files;
  }
  EXPECT_GE(files, 9);
}

TEST(ParseJsonTest, OmitsMembersAtExactPointers) {
  const std::string text =
      R"({"request":{"object":{"metadata":{"name":"a","managedFields":[{"m":1}]}},
          "oldObject":{"metadata":{"managedFields":[]},"spec":{"managedFields":1}},
          "list":[{"metadata":{"managedFields":2}}],
          "a/b":{"c~d":1,"e":2}},"managedFields":3})";
  const std::string_view omit[] = {"/request/object/metadata/managedFields",
                                   "/request/oldObject/metadata/managedFields",
                                   "/request/a~1b/c~0d"};
  Json want = Json::parse(text);
  want["request"]["object"]["metadata"].erase("managedFields");
  want["request"]["oldObject"]["metadata"].erase("managedFields");
  want["request"]["a/b"].erase("c~d");
  StatusOr<Json> got = ParseJson(text, "input", JsonParseOptions{omit});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(TypedDifference(*got, want), "");
  StatusOr<JsonDoc> doc = ParseJsonDoc(text, "input", JsonParseOptions{omit});
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(TypedDifference(doc->root().ToJson(), want), "");

  // The same on the exact path (a -0 integer sends the document to nlohmann's parser).
  std::string with_zero = text;
  with_zero.insert(text.size() - 1, R"(,"zero":-0)");
  want["zero"] = Json::number_integer_t{0};
  got = ParseJson(with_zero, "input", JsonParseOptions{omit});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(TypedDifference(*got, want), "");
  doc = ParseJsonDoc(with_zero, "input", JsonParseOptions{omit});
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(TypedDifference(doc->root().ToJson(), want), "");
}

TEST(ParseJsonTest, RejectsInvalidOmitPointers) {
  const std::string_view bad[] = {"metadata"};
  StatusOr<Json> got = ParseJson("{}", "input", JsonParseOptions{bad});
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().message(),
            "JsonParseOptions: omit_members entry \"metadata\" is not a JSON pointer to a member");
  std::vector<std::string_view> many(65, "/a");
  got = ParseJson("{}", "input", JsonParseOptions{many});
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().message(), "JsonParseOptions: at most 64 omit_members, got 65");
}

TEST(AppendJsonValueTest, WritesWhatNlohmannDumpWrites) {
  const Json values[] = {
      Json::parse(R"({"b":[1,-2,18446744073709551615,1.5,-0.0,1e300,true,null],"a":{}})"),
      Json::parse(R"(["tab\t", "quote\"", "ctl\u0001", "é", "", [], {"":""}])"),
      Json(std::string("bad\xff\xe2\x82")),                                // invalid UTF-8 value
      Json::object({{std::string("k\xc3"), std::string("v")}, {"x", 2}}),  // invalid UTF-8 key
      Json(0.1),
      Json(-7),
  };
  for (const Json& v : values) {
    std::string out = "prefix:";
    AppendJsonValue(out, v);
    EXPECT_EQ(out, "prefix:" + v.dump(-1, ' ', false, Json::error_handler_t::replace));
  }
}

// Strings are scanned eight bytes at a time; every byte that needs escaping (or starts UTF-8) at
// every position of a word, and in the tail after the last whole word, must still be written as
// nlohmann writes it.
TEST(AppendJsonStringTest, EscapesEveryByteAtEveryPosition) {
  const std::string specials[] = {"\"",   "\\",       std::string(1, '\0'), "\x1f", "\n",
                                  "\x7f", "\xc3\xa9", "\xe2\x86\x92",       " "};
  for (const std::string& special : specials) {
    for (size_t at = 0; at <= 20; ++at) {
      std::string s(at, 'a');
      s += special;
      s += "bcdefghijk";
      std::string out = "prefix:";
      ASSERT_TRUE(AppendJsonString(out, s, /*replace_invalid=*/false)) << "at " << at;
      EXPECT_EQ(out, "prefix:" + Json(s).dump()) << "special byte(s) at " << at;
    }
  }
  std::string invalid = std::string(13, 'a') + "\xff";
  std::string out = "prefix:";
  EXPECT_FALSE(AppendJsonString(out, invalid, /*replace_invalid=*/false));
  EXPECT_EQ(out, "prefix:");
  EXPECT_TRUE(AppendJsonString(out, invalid, /*replace_invalid=*/true));
  EXPECT_EQ(out, "prefix:\"aaaaaaaaaaaaa\xEF\xBF\xBD\"");
}

}  // namespace
}  // namespace driftguard::core
