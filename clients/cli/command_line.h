// The custos command line: sets this program's Abseil flags from argv as
// absl::ParseCommandLine does, but returns a bad command line as a status
// instead of exiting with 1, so that every usage error exits 2 and can be
// told as JSON.
//
// Thread-compatible: it sets process-wide flags; parse once, before any
// other thread reads them.
#ifndef CUSTOS_CLIENTS_CLI_COMMAND_LINE_H_
#define CUSTOS_CLIENTS_CLI_COMMAND_LINE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace custos::cli {

struct CommandLine {
  // The words that are not flags or their values, e.g. {"access", "list"}.
  std::vector<std::string> words;
  // The names of the flags given, without dashes, in the order given.
  std::vector<std::string> flags_given;
  // --help or -h was given.
  bool help = false;
};

// Parses `args` (argv without the program's name) and sets the flags it
// names. A flag is `--name=value` or `--name value`; a bool flag also
// `--name` or `--noname`; one dash does as well as two; `--` ends the
// flags. Only flags defined in files under clients/cli/ are known: the
// libraries' flags are no part of the CLI.
//
// Every flag that parses is set even when another does not, so that the
// caller can read --output to tell the error. INVALID_ARGUMENT naming the
// first flag that is unknown, lacks its value or has a value its type does
// not take.
absl::StatusOr<CommandLine> ParseCommandLine(
    const std::vector<std::string>& args);

// One line per flag ParseCommandLine knows, sorted by name:
// "  --name  help (default: value)".
std::string FlagsHelp();

}  // namespace custos::cli

#endif  // CUSTOS_CLIENTS_CLI_COMMAND_LINE_H_
