// A plain-text table for terminal output: a header row, aligned columns.
// Not thread-safe.
#ifndef CUSTOS_CLIENTS_CLI_TABLE_H_
#define CUSTOS_CLIENTS_CLI_TABLE_H_

#include <ostream>
#include <string>
#include <vector>

namespace custos::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> header) : rows_{std::move(header)} {}

  // Adds a row; missing cells print empty, extra cells are dropped.
  void AddRow(std::vector<std::string> row);

  // Prints the header and rows, columns padded to their widest cell (counted
  // in UTF-8 code points), separated by two spaces, trailing space trimmed.
  void Print(std::ostream& out) const;

  size_t size() const { return rows_.size() - 1; }

 private:
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace custos::cli

#endif  // CUSTOS_CLIENTS_CLI_TABLE_H_
