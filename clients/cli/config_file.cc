#include "clients/cli/config_file.h"

#include <cstdlib>
#include <map>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files.h"

namespace custos::cli {
namespace {

// The keys a config file may set, and which of them are paths.
struct Key {
  absl::string_view name;
  std::string SettingsLayer::*setting;  // null for output
  bool path;
};
constexpr Key kKeys[] = {
    {"server", &SettingsLayer::server, false},
    {"as", &SettingsLayer::as, false},
    {"pki_dir", &SettingsLayer::pki_dir, true},
    {"ca", &SettingsLayer::ca, true},
    {"cert", &SettingsLayer::cert, true},
    {"key", &SettingsLayer::key, true},
    {"output", nullptr, false},
};

const Key* FindKey(absl::string_view name) {
  for (const Key& key : kKeys) {
    if (key.name == name) return &key;
  }
  return nullptr;
}

std::string Environment(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

}  // namespace

absl::StatusOr<ConfigFile> ParseConfigFile(absl::string_view text,
                                           const std::string& path) {
  ConfigFile config;
  config.settings.source = SettingsLayer::Source::kConfigFile;
  config.settings.file = path;
  // A relative path means the same wherever custos is run from.
  const std::string folder = DirectoryOf(path);
  std::map<absl::string_view, int> seen_on;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    auto error = [&](absl::string_view what) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", number, ": ", what));
    };
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    const size_t eq = line.find('=');
    if (eq == absl::string_view::npos) {
      return error(absl::StrCat("expected key = value, not \"", line, "\""));
    }
    const absl::string_view name =
        absl::StripAsciiWhitespace(line.substr(0, eq));
    const absl::string_view value =
        absl::StripAsciiWhitespace(line.substr(eq + 1));
    const Key* key = FindKey(name);
    if (key == nullptr) {
      return error(absl::StrCat(
          "unknown key \"", name,
          "\" (expected server, as, pki_dir, ca, cert, key or output)"));
    }
    if (auto [it, first] = seen_on.emplace(key->name, number); !first) {
      return error(absl::StrCat(name, ": given before, on line ", it->second));
    }
    if (value.empty()) return error(absl::StrCat(name, ": no value"));
    if (key->setting == nullptr) {
      if (value != "table" && value != "json") {
        return error(absl::StrCat("output: expected table or json, not \"",
                                  value, "\""));
      }
      config.output = std::string(value);
    } else if (key->path && value[0] != '/') {
      config.settings.*key->setting = absl::StrCat(folder, "/", value);
    } else {
      config.settings.*key->setting = std::string(value);
    }
  }
  return config;
}

ConfigFileLocation LocateConfigFile(const std::string& config_flag) {
  if (!config_flag.empty()) return {config_flag, true};
  if (std::string env = Environment("CUSTOS_CONFIG"); !env.empty())
    return {env, true};
  if (std::string xdg = Environment("XDG_CONFIG_HOME"); !xdg.empty())
    return {absl::StrCat(xdg, "/custos/cli.conf"), false};
  if (std::string home = Environment("HOME"); !home.empty())
    return {absl::StrCat(home, "/.config/custos/cli.conf"), false};
  return {"", false};
}

absl::StatusOr<ConfigFile> ReadConfigFile(const ConfigFileLocation& location) {
  if (location.path.empty()) return ConfigFile();
  absl::StatusOr<std::string> text = ReadFile(location.path);
  if (absl::IsNotFound(text.status()) && !location.named) return ConfigFile();
  if (!text.ok()) return text.status();
  return ParseConfigFile(*text, location.path);
}

}  // namespace custos::cli
