#include "clients/web/html.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "clients/web/web_security.h"

namespace custos::web {

std::string Page(absl::string_view title, absl::string_view banner,
                 absl::string_view body) {
  return absl::StrCat(
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width\">"
      "<title>",
      HtmlEscape(title),
      " · Custos</title>"
      "<link rel=\"stylesheet\" href=\"/static/style.css\">"
      "<script src=\"/static/app.js\" defer></script></head><body>",
      banner, "<main><h1>", HtmlEscape(title), "</h1>", body,
      "</main></body></html>\n");
}

std::string HtmlTable(const std::vector<std::string>& header,
                      const std::vector<std::vector<std::string>>& rows) {
  if (rows.empty()) return "<p class=\"empty\">Nothing to show.</p>";
  std::string out = "<table><thead><tr>";
  for (const auto& h : header)
    absl::StrAppend(&out, "<th>", HtmlEscape(h), "</th>");
  out += "</tr></thead><tbody>";
  for (const auto& row : rows) {
    out += "<tr>";
    for (const auto& cell : row) absl::StrAppend(&out, "<td>", cell, "</td>");
    out += "</tr>";
  }
  out += "</tbody></table>";
  return out;
}

std::string Table(const std::vector<std::string>& header,
                  const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::vector<std::string>> escaped;
  escaped.reserve(rows.size());
  for (const auto& row : rows) {
    std::vector<std::string> cells;
    for (const auto& cell : row) cells.push_back(HtmlEscape(cell));
    escaped.push_back(std::move(cells));
  }
  return HtmlTable(header, escaped);
}

std::string ButtonForm(
    absl::string_view action, absl::string_view csrf,
    const std::vector<std::pair<std::string, std::string>>& fields,
    absl::string_view label) {
  std::string out =
      absl::StrCat("<form method=\"post\" action=\"", HtmlEscape(action),
                   "\" class=\"inline\"><input type=\"hidden\" "
                   "name=\"csrf\" value=\"",
                   HtmlEscape(csrf), "\">");
  for (const auto& [name, value] : fields) {
    absl::StrAppend(&out, "<input type=\"hidden\" name=\"", HtmlEscape(name),
                    "\" value=\"", HtmlEscape(value), "\">");
  }
  absl::StrAppend(&out, "<button type=\"submit\">", HtmlEscape(label),
                  "</button></form>");
  return out;
}

std::string ShowTime(absl::Time t) {
  if (t == absl::UnixEpoch()) return "";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", t, absl::UTCTimeZone());
}

std::string ShowDuration(absl::Duration d) {
  if (d < absl::ZeroDuration()) d = absl::ZeroDuration();
  const int64_t s = absl::ToInt64Seconds(d);
  if (s >= 3600) return absl::StrFormat("%dh %02dm", s / 3600, (s / 60) % 60);
  return absl::StrFormat("%dm %02ds", s / 60, s % 60);
}

}  // namespace custos::web
