#include "certs/inspect.h"

#include <fstream>
#include <optional>
#include <sstream>

#include "certs/ca_bundle.h"
#include "certs/generate.h"
#include "certs/pem.h"
#include "core/yaml.h"

namespace driftguard::certs {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kInspectedKeys[] = {kCaCertKey, kTlsCertKey, kTlsKeyKey};

std::optional<std::string> ReadWholeFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return ss.str();
}

bool HasCertificate(const std::vector<InspectTarget>& targets) {
  for (const auto& t : targets) {
    if (t.name != kTlsKeyKey) return true;
  }
  return false;
}

// A Secret manifest's certificate entries, or nullopt when `text` is not a Secret.
core::StatusOr<std::optional<std::vector<InspectTarget>>> FromSecretManifest(
    const std::string& text, const std::string& source) {
  if (text.find("-----BEGIN") != std::string::npos && text.find("kind") == std::string::npos) {
    return std::optional<std::vector<InspectTarget>>();
  }
  auto doc = core::ParseYaml(text, source);
  const core::Json* kind = doc.ok() ? core::FindPointer(*doc, "/kind") : nullptr;
  if (kind == nullptr || !kind->is_string() || *kind != "Secret") {
    return std::optional<std::vector<InspectTarget>>();
  }
  std::vector<InspectTarget> out;
  for (std::string_view key : kInspectedKeys) {
    const std::string k(key);
    const core::Json* data = core::FindPointer(*doc, "/data/" + core::EscapePointerToken(k));
    const core::Json* string_data =
        core::FindPointer(*doc, "/stringData/" + core::EscapePointerToken(k));
    if (string_data != nullptr && string_data->is_string()) {
      out.push_back({k, string_data->get<std::string>()});
    } else if (data != nullptr && data->is_string()) {
      auto decoded = Base64Decode(data->get<std::string>());
      if (!decoded.ok()) return decoded.status().WithPrefix(source + ": data[" + k + "]");
      out.push_back({k, std::move(decoded).value()});
    }
  }
  return std::optional<std::vector<InspectTarget>>(std::move(out));
}

int64_t DaysLeft(TimePoint not_after, TimePoint now) {
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(not_after - now).count();
  // Floor, also for negative values.
  return seconds >= 0 ? seconds / 86400 : -((-seconds + 86399) / 86400);
}

struct Checks {
  std::optional<bool> chain_verified;
  std::string chain_reason;
  std::optional<bool> key_matches;
};

Checks RunChecks(const std::vector<InspectTarget>& targets, TimePoint now) {
  const InspectTarget *ca = nullptr, *tls = nullptr, *key = nullptr;
  for (const auto& t : targets) {
    if (t.name == kCaCertKey) ca = &t;
    if (t.name == kTlsCertKey) tls = &t;
    if (t.name == kTlsKeyKey) key = &t;
  }
  Checks c;
  if (ca != nullptr && tls != nullptr) {
    core::Status s = VerifyChain(tls->pem, ca->pem, now);
    c.chain_verified = s.ok();
    c.chain_reason = s.message();
  }
  if (tls != nullptr && key != nullptr)
    c.key_matches = CheckKeyMatchesCert(tls->pem, key->pem).ok();
  return c;
}

}  // namespace

core::StatusOr<std::vector<InspectTarget>> LoadInspectTargets(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    std::vector<InspectTarget> out;
    for (std::string_view key : kInspectedKeys) {
      const fs::path file = path / key;
      if (!fs::exists(file, ec)) continue;
      auto text = ReadWholeFile(file);
      if (!text.has_value()) return core::NotFoundError("cannot read " + file.string());
      out.push_back({std::string(key), std::move(text).value()});
    }
    if (!HasCertificate(out)) {
      return core::InvalidArgumentError(path.string() + ": no ca.crt or tls.crt");
    }
    return out;
  }
  auto text = ReadWholeFile(path);
  if (!text.has_value()) return core::NotFoundError("cannot read " + path.string());
  ASSIGN_OR_RETURN(auto secret, FromSecretManifest(*text, path.string()));
  if (secret.has_value()) {
    if (!HasCertificate(*secret)) {
      return core::InvalidArgumentError(path.string() + ": no ca.crt or tls.crt");
    }
    return std::move(secret).value();
  }
  return std::vector<InspectTarget>{{path.filename().string(), std::move(text).value()}};
}

core::StatusOr<core::Json> InspectReportJson(const std::vector<InspectTarget>& targets,
                                             TimePoint now) {
  core::Json certificates = core::Json::array();
  for (const auto& t : targets) {
    if (t.name == kTlsKeyKey) continue;
    auto infos = InspectAll(t.pem);
    if (!infos.ok()) return infos.status().WithPrefix(t.name);
    for (size_t i = 0; i < infos->size(); ++i) {
      core::Json entry = {{"file", t.name}, {"index", i + 1}};
      entry.update((*infos)[i].ToJson());
      entry["daysLeft"] = DaysLeft((*infos)[i].not_after, now);
      certificates.push_back(std::move(entry));
    }
  }
  Checks c = RunChecks(targets, now);
  core::Json out = {{"certificates", std::move(certificates)}};
  out["chainVerified"] = c.chain_verified.has_value() ? core::Json(*c.chain_verified) : nullptr;
  out["keyMatches"] = c.key_matches.has_value() ? core::Json(*c.key_matches) : nullptr;
  return out;
}

core::StatusOr<std::string> InspectReportText(const std::vector<InspectTarget>& targets,
                                              TimePoint now) {
  std::string out;
  for (const auto& t : targets) {
    if (t.name == kTlsKeyKey) continue;
    auto infos = InspectAll(t.pem);
    if (!infos.ok()) return infos.status().WithPrefix(t.name);
    for (size_t i = 0; i < infos->size(); ++i) {
      const CertInfo& info = (*infos)[i];
      std::string sans;
      for (const auto& d : info.dns_names) sans += (sans.empty() ? "" : ", ") + ("DNS:" + d);
      for (const auto& ip : info.ip_addresses) sans += (sans.empty() ? "" : ", ") + ("IP:" + ip);
      const int64_t days = DaysLeft(info.not_after, now);
      out += t.name + (infos->size() > 1 ? " #" + std::to_string(i + 1) : "") + "\n";
      out += "  subject:     " + info.subject + "\n";
      out += "  issuer:      " + info.issuer + "\n";
      out += "  SANs:        " + (sans.empty() ? std::string("none") : sans) + "\n";
      out += "  not before:  " + FormatTime(info.not_before) + "\n";
      out += "  not after:   " + FormatTime(info.not_after) + "\n";
      out += "  days left:   " +
             (days < 0 ? "expired " + std::to_string(-days) + " days ago" : std::to_string(days)) +
             "\n";
      out += "  serial:      " + info.serial_hex + "\n";
      out += std::string("  CA:          ") + (info.is_ca ? "yes" : "no") + "\n";
    }
  }
  Checks c = RunChecks(targets, now);
  if (c.chain_verified.has_value()) {
    out += "tls.crt verifies against ca.crt: " +
           (*c.chain_verified ? std::string("yes") : "no (" + c.chain_reason + ")") + "\n";
  }
  if (c.key_matches.has_value()) {
    out += std::string("tls.key matches tls.crt: ") + (*c.key_matches ? "yes" : "no") + "\n";
  }
  return out;
}

}  // namespace driftguard::certs
