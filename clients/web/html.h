// HTML for custos-web's pages: one layout, tables, forms with their CSRF
// token. Every value that reaches HTML goes through HtmlEscape here. Pure.
#ifndef CUSTOS_CLIENTS_WEB_HTML_H_
#define CUSTOS_CLIENTS_WEB_HTML_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace custos::web {

// A whole page: `banner` (already HTML) first, then the title and `body`
// (already HTML). Scripts are files under /static, never inline, so the
// Content-Security-Policy can forbid inline script.
std::string Page(absl::string_view title, absl::string_view banner,
                 absl::string_view body);

// A table of escaped cells; `header` names the columns.
std::string Table(const std::vector<std::string>& header,
                  const std::vector<std::vector<std::string>>& rows);
// As Table, but the cells are HTML already (escaped by the caller).
std::string HtmlTable(const std::vector<std::string>& header,
                      const std::vector<std::vector<std::string>>& rows);

// A POST form with one button; `fields` are hidden name/value pairs, the
// CSRF token included.
std::string ButtonForm(
    absl::string_view action, absl::string_view csrf,
    const std::vector<std::pair<std::string, std::string>>& fields,
    absl::string_view label);

// "2026-11-22 20:15:03 UTC".
std::string ShowTime(absl::Time t);
// "1h 05m", "4m 10s".
std::string ShowDuration(absl::Duration d);

}  // namespace custos::web

#endif  // CUSTOS_CLIENTS_WEB_HTML_H_
