#include "clients/cli/command_line.h"

#include <algorithm>
#include <optional>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace custos::cli {
namespace {

bool IsCliFlag(const absl::CommandLineFlag& flag) {
  return absl::StrContains(flag.Filename(), "clients/cli/");
}

absl::CommandLineFlag* FindCliFlag(absl::string_view name) {
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  if (flag == nullptr || flag->IsRetired() || !IsCliFlag(*flag)) return nullptr;
  return flag;
}

}  // namespace

absl::StatusOr<CommandLine> ParseCommandLine(
    const std::vector<std::string>& args) {
  CommandLine line;
  std::optional<absl::Status> first_error;
  auto fail = [&first_error](std::string message) {
    if (!first_error.has_value())
      first_error = absl::InvalidArgumentError(std::move(message));
  };
  bool flags_ended = false;
  for (size_t i = 0; i < args.size(); ++i) {
    absl::string_view arg = args[i];
    if (flags_ended || arg.size() < 2 || arg[0] != '-') {
      line.words.emplace_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_ended = true;
      continue;
    }
    absl::ConsumePrefix(&arg, "-");
    absl::ConsumePrefix(&arg, "-");
    absl::string_view name = arg;
    std::optional<absl::string_view> value;
    if (const size_t eq = arg.find('='); eq != absl::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    if (name == "help" || name == "h") {
      line.help = true;
      continue;
    }
    absl::CommandLineFlag* flag = FindCliFlag(name);
    if (flag == nullptr && !value.has_value() &&
        absl::ConsumePrefix(&name, "no")) {
      // --noapprove: a bool flag set to false.
      flag = FindCliFlag(name);
      if (flag != nullptr && flag->IsOfType<bool>()) {
        value = "false";
      } else {
        flag = nullptr;
        name = arg;
      }
    }
    if (flag == nullptr) {
      fail(absl::StrCat("unknown flag --", name));
      continue;
    }
    if (!value.has_value()) {
      if (flag->IsOfType<bool>()) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        fail(absl::StrCat("--", name, " needs a value"));
        continue;
      }
    }
    std::string error;
    if (!flag->ParseFrom(*value, &error)) {
      fail(absl::StrCat("--", name, ": ", error));
      continue;
    }
    line.flags_given.emplace_back(name);
  }
  if (first_error.has_value()) return *first_error;
  return line;
}

std::string FlagsHelp() {
  std::vector<const absl::CommandLineFlag*> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (!flag->IsRetired() && IsCliFlag(*flag)) flags.push_back(flag);
  }
  std::sort(flags.begin(), flags.end(),
            [](const auto* a, const auto* b) { return a->Name() < b->Name(); });
  std::string help;
  for (const absl::CommandLineFlag* flag : flags) {
    absl::StrAppend(&help, "  --", flag->Name(), "  ", flag->Help());
    const std::string default_value = flag->DefaultValue();
    if (!default_value.empty() && default_value != "false" &&
        default_value != "0") {
      absl::StrAppend(&help, " (default: ", default_value, ")");
    }
    absl::StrAppend(&help, "\n");
  }
  return help;
}

}  // namespace custos::cli
