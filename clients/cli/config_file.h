// The CLI's config file: connection settings and the output format a user
// wants by default, weaker than the environment and the command line.
//
//   # Anna's defaults
//   server = custos.example.com:7443
//   as = anna.support
//   pki_dir = pki
//   output = json
//
// One `key = value` a line; blank lines and lines starting with `#` are
// skipped. Keys: server, as, pki_dir, ca, cert, key, output (table or
// json). A relative path is taken from the file's folder. No token: a
// customer's secret does not belong in a file read on every call.
//
// Thread-compatible; LocateConfigFile reads the process's environment.
#ifndef CUSTOS_CLIENTS_CLI_CONFIG_FILE_H_
#define CUSTOS_CLIENTS_CLI_CONFIG_FILE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "clients/cli/connection.h"

namespace custos::cli {

struct ConfigFile {
  // Source kConfigFile, naming the file; empty when there is none.
  SettingsLayer settings;
  // "table", "json", or empty when the file does not say.
  std::string output;
};

// Parses `text`, the contents of the config file at `path` (named in
// errors, and the folder of its relative paths). INVALID_ARGUMENT
// "PATH:LINE: ..." naming the key for an unknown key, a key given twice, an
// empty value or an output other than table or json, and the line for one
// that is not `key = value`.
absl::StatusOr<ConfigFile> ParseConfigFile(absl::string_view text,
                                           const std::string& path);

// Where the config file is, and whether the user named it.
struct ConfigFileLocation {
  std::string path;
  // Named by --config or CUSTOS_CONFIG: it must exist. The default may not.
  bool named = false;
};

// `config_flag` when set, else CUSTOS_CONFIG, else
// $XDG_CONFIG_HOME/custos/cli.conf, else ~/.config/custos/cli.conf ($HOME);
// an empty path when none of these is known.
ConfigFileLocation LocateConfigFile(const std::string& config_flag);

// Reads and parses the file at `location`: an empty ConfigFile when it is
// the default and does not exist. NOT_FOUND naming a named file that does
// not exist, another code when it cannot be read, and ParseConfigFile's.
absl::StatusOr<ConfigFile> ReadConfigFile(const ConfigFileLocation& location);

}  // namespace custos::cli

#endif  // CUSTOS_CLIENTS_CLI_CONFIG_FILE_H_
