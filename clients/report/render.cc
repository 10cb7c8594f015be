#include "clients/report/render.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"

namespace custos::report {
namespace {

using custos::v1::LogEntry;

// Entries listed under a finding, accesses from abroad and sessions shown
// in the HTML; the exports list them all.
constexpr size_t kEntriesShown = 25;
constexpr size_t kAbroadShown = 200;
constexpr size_t kSessionsShown = 50;

// Colours for categories, in the order of Report.categories.
constexpr const char* kPalette[] = {"#2f6fb0", "#d9822b", "#3a9a5b", "#b8433f",
                                    "#7a58a8", "#8c6d46", "#c25a9c", "#6b7280",
                                    "#a8a23a", "#2aa0a8"};

std::string Html(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string Json(absl::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

std::string Csv(absl::string_view text) {
  if (text.find_first_of(",\"\r\n") == absl::string_view::npos &&
      // A leading =, +, - or @ would run as a formula in a spreadsheet.
      (text.empty() ||
       std::string("=+-@").find(text[0]) == std::string::npos)) {
    return std::string(text);
  }
  std::string out = "\"";
  if (!text.empty() && std::string("=+-@").find(text[0]) != std::string::npos)
    out += '\'';
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

absl::Time EntryTime(const LogEntry& entry) {
  return absl::FromUnixSeconds(entry.time().seconds()) +
         absl::Nanoseconds(entry.time().nanos());
}

std::string Iso(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

std::string Local(absl::Time t, const absl::TimeZone& zone) {
  return absl::FormatTime("%Y-%m-%d %H:%M", t, zone);
}

std::string Day(absl::Time t, const absl::TimeZone& zone) {
  return absl::FormatTime("%Y-%m-%d", t, zone);
}

std::string Reasons(const LogEntry& entry) {
  std::vector<std::string> codes;
  for (const auto& r : entry.reasons()) codes.push_back(r.code());
  return absl::StrJoin(codes, ";");
}

// A horizontal bar per count, longest first as given.
std::string Bars(const std::vector<Count>& counts, absl::string_view label,
                 const char* colour) {
  if (counts.empty()) return "<p class=\"none\">None in this period.</p>\n";
  uint64_t max = 1;
  for (const Count& c : counts) max = std::max(max, c.value);
  constexpr int kLabel = 230, kBar = 380, kRow = 22;
  const int height = static_cast<int>(counts.size()) * kRow + 8;
  std::string svg = absl::StrFormat(
      "<svg class=\"chart\" role=\"img\" aria-label=\"%s\" width=\"%d\" "
      "height=\"%d\" viewBox=\"0 0 %d %d\">\n",
      Html(label), kLabel + kBar + 80, height, kLabel + kBar + 80, height);
  int y = 4;
  for (const Count& c : counts) {
    const int w = std::max<int>(
        1, static_cast<int>(std::lround(kBar * static_cast<double>(c.value) /
                                        static_cast<double>(max))));
    absl::StrAppendFormat(
        &svg,
        "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>"
        "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"/>"
        "<text x=\"%d\" y=\"%d\">%d</text>\n",
        kLabel - 8, y + 15, Html(c.label), kLabel, y + 3, w, kRow - 6, colour,
        kLabel + w + 6, y + 15, c.value);
    y += kRow;
  }
  svg += "</svg>\n";
  return svg;
}

// Accesses per week, stacked by category.
std::string WeeklyChart(const Report& r) {
  if (r.weekly.empty())
    return "<p class=\"none\">No accesses in this period.</p>\n";
  uint64_t max = 1;
  for (const auto& [week, by_category] : r.weekly) {
    uint64_t total = 0;
    for (const auto& [c, n] : by_category) total += n;
    max = std::max(max, total);
  }
  const int weeks = static_cast<int>(r.weekly.size());
  const int bar = std::clamp(560 / weeks, 6, 48);
  constexpr int kLeft = 50, kTop = 10, kPlot = 200;
  const int width = kLeft + weeks * (bar + 4) + 20;
  const int legend_rows = static_cast<int>(r.categories.size() + 3) / 4;
  const int height = kTop + kPlot + 40 + legend_rows * 18;
  std::string svg = absl::StrFormat(
      "<svg class=\"chart\" role=\"img\" aria-label=\"accesses per week by "
      "category\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n",
      std::max(width, 620), height, std::max(width, 620), height);
  absl::StrAppendFormat(
      &svg,
      "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#999\"/>"
      "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%d</text>"
      "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">0</text>\n",
      kLeft, kTop + kPlot, width, kTop + kPlot, kLeft - 6, kTop + 10, max,
      kLeft - 6, kTop + kPlot);
  int x = kLeft + 4;
  int i = 0;
  for (const auto& [week, by_category] : r.weekly) {
    double y = kTop + kPlot;
    for (size_t c = 0; c < r.categories.size(); ++c) {
      auto it = by_category.find(r.categories[c]);
      if (it == by_category.end()) continue;
      const double h =
          kPlot * static_cast<double>(it->second) / static_cast<double>(max);
      y -= h;
      absl::StrAppendFormat(
          &svg,
          "<rect x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" "
          "fill=\"%s\"><title>week of %s, %s: %d</title></rect>\n",
          x, y, bar, h, kPalette[c % std::size(kPalette)],
          absl::FormatCivilTime(week), Html(r.categories[c]), it->second);
    }
    // Label every week when there is room, else every fourth.
    if (weeks <= 12 || i % 4 == 0) {
      absl::StrAppendFormat(
          &svg, "<text x=\"%d\" y=\"%d\" class=\"small\">%s</text>\n", x,
          kTop + kPlot + 14, absl::FormatCivilTime(week).substr(5));
    }
    x += bar + 4;
    ++i;
  }
  for (size_t c = 0; c < r.categories.size(); ++c) {
    const int lx = kLeft + static_cast<int>(c % 4) * 140;
    const int ly = kTop + kPlot + 32 + static_cast<int>(c / 4) * 18;
    absl::StrAppendFormat(
        &svg,
        "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/>"
        "<text x=\"%d\" y=\"%d\">%s</text>\n",
        lx, ly - 10, kPalette[c % std::size(kPalette)], lx + 16, ly,
        Html(r.categories[c]));
  }
  svg += "</svg>\n";
  return svg;
}

std::string EntryList(const std::vector<uint64_t>& entries) {
  std::vector<std::string> shown;
  for (size_t i = 0; i < entries.size() && i < kEntriesShown; ++i)
    shown.push_back(absl::StrCat(entries[i]));
  std::string out = absl::StrJoin(shown, ", ");
  if (entries.size() > kEntriesShown) {
    absl::StrAppend(&out, " and ", entries.size() - kEntriesShown,
                    " more (all in the CSV and JSON exports)");
  }
  return out;
}

void RenderFindings(const Report& r, std::ostream& out) {
  out << "<h2 id=\"findings\">Findings</h2>\n";
  if (r.findings.empty()) {
    out << "<p class=\"ok\">Nothing stands out in this period.</p>\n";
    return;
  }
  std::string code;
  for (const Finding& f : r.findings) {
    if (f.code != code) {
      if (!code.empty()) out << "</tbody></table>\n";
      code = f.code;
      out << "<h3>" << Html(FindingTitle(code)) << " <span class=\"code\">"
          << Html(code) << "</span></h3>\n"
          << "<table><thead><tr><th>what</th><th>entries behind it</th></tr>"
             "</thead><tbody>\n";
    }
    out << "<tr><td>" << Html(f.summary) << "</td><td class=\"idx\">"
        << EntryList(f.entries) << "</td></tr>\n";
  }
  out << "</tbody></table>\n";
}

void RenderLogState(const Report& r, std::ostream& out) {
  const LogState& log = r.log;
  out << "<h2 id=\"log\">The log</h2>\n<table class=\"kv\"><tbody>\n";
  out << "<tr><th>verified</th><td>"
      << (log.verified
              ? "<span class=\"ok\">yes</span>: chain, Merkle tree, every "
                "stored checkpoint"
              : "<span class=\"bad\">NO</span>: " + Html(log.problem))
      << "</td></tr>\n";
  out << "<tr><th>signatures</th><td>"
      << (log.signatures_checked
              ? "checked against the pinned verifier key"
              : "<span class=\"bad\">not checked</span> (no verifier key "
                "given)")
      << "</td></tr>\n";
  out << "<tr><th>entries in the log</th><td>" << log.entries << "</td></tr>\n";
  if (log.verified && log.entries > log.covered_entries) {
    out << "<tr><th>left to the next report</th><td>"
        << log.entries - log.covered_entries
        << " entries past the checkpoint this report started from (not yet "
           "signed then, or appended since)</td></tr>\n";
  }
  if (!log.checkpoint_note.empty()) {
    out << "<tr><th>checkpoint</th><td>size " << log.checkpoint_size
        << ", root <code>" << log.checkpoint_root_hex << "</code><pre>"
        << Html(log.checkpoint_note) << "</pre></td></tr>\n";
  }
  out << "<tr><th>previous report</th><td>";
  if (!log.has_previous) {
    out << "none kept: this is the first report, its checkpoint is kept for "
           "the next";
  } else {
    out << (log.consistent_with_previous
                ? "<span class=\"ok\">consistent</span>: "
                : "<span class=\"bad\">NOT "
                  "consistent</span>: ")
        << Html(log.consistency_detail) << "<pre>" << Html(log.previous_note)
        << "</pre>";
  }
  out << "</td></tr>\n</tbody></table>\n";
}

constexpr char kStyle[] = R"css(
body{font:14px/1.45 "DejaVu Sans",Helvetica,Arial,sans-serif;color:#1f2933;margin:24px auto;max-width:1000px;padding:0 16px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid #d8dee4;padding-bottom:4px}
h3{font-size:15px;margin:16px 0 6px}.meta{color:#52606d}
table{border-collapse:collapse;width:100%;margin:6px 0 12px}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e4e7eb;vertical-align:top}
th{background:#f5f7fa}td{overflow-wrap:anywhere}td.n,th.n{text-align:right}td.idx{font-family:"DejaVu Sans Mono",monospace;font-size:12px}
.kv th{width:180px}.ok{color:#1e7b34;font-weight:bold}.bad{color:#b42318;font-weight:bold}.none{color:#52606d}
.code{font:12px "DejaVu Sans Mono",monospace;color:#52606d;font-weight:normal}
.tiles{display:flex;flex-wrap:wrap;gap:10px}.tile{border:1px solid #d8dee4;border-radius:6px;padding:8px 14px;min-width:120px}
.tile b{display:block;font-size:22px}pre{font-size:12px;white-space:pre-wrap;background:#f5f7fa;padding:6px}
svg.chart text{font-size:12px;fill:#1f2933}svg.chart text.small{font-size:10px}
.banner{padding:8px 12px;border-radius:6px;margin:10px 0}.banner.ok{background:#e3f4e8}.banner.bad{background:#fde8e7}
@media print{body{margin:0;max-width:none}h2{break-after:avoid}table,svg,.tile{break-inside:avoid}a{color:inherit;text-decoration:none}}
)css";

}  // namespace

void RenderHtml(const Report& r, absl::Time generated_at, std::ostream& out) {
  const absl::TimeZone& zone = r.options.zone;
  const std::string period = absl::StrCat(
      r.options.from == absl::InfinitePast() ? "the start"
                                             : Day(r.options.from, zone),
      " to ",
      r.options.to == absl::InfiniteFuture()
          ? "now"
          : Day(r.options.to - absl::Seconds(1), zone));
  out << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
      << "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src "
         "'none'; style-src 'unsafe-inline'\">\n"
      << "<title>Custos access report, " << Html(period) << "</title>\n"
      << "<style>" << kStyle << "</style></head><body>\n";
  out << "<h1>Access to customer data: " << Html(period) << "</h1>\n"
      << "<p class=\"meta\">"
      << (r.options.customer_id.empty()
              ? "All customers"
              : "Customer " + Html(r.options.customer_id))
      << " · times in " << Html(zone.name()) << " · made "
      << Html(Local(generated_at, zone)) << " · policy "
      << Html(r.policy_version) << "</p>\n";
  out << "<div class=\"banner " << (r.log.verified ? "ok" : "bad") << "\">"
      << (r.log.verified ? "The log verifies" : "THE LOG DOES NOT VERIFY")
      << (r.log.has_previous
              ? (r.log.consistent_with_previous
                     ? " and extends the previous report's checkpoint."
                     : "; it is not consistent with the previous report's "
                       "checkpoint.")
              : ".")
      << " <a href=\"#log\">Details</a></div>\n";

  uint64_t session_minutes = 0;
  for (const SessionRow& s : r.sessions)
    session_minutes += absl::ToInt64Minutes(s.length());
  out << "<div class=\"tiles\">"
      << "<div class=\"tile\"><b>" << r.accesses << "</b>accesses</div>"
      << "<div class=\"tile\"><b>" << r.refused << "</b>refused</div>"
      << "<div class=\"tile\"><b>" << r.pending << "</b>pending</div>"
      << "<div class=\"tile\"><b>" << r.abroad.size() << "</b>from abroad</div>"
      << "<div class=\"tile\"><b>" << r.sessions.size()
      << "</b>take-identity sessions, " << session_minutes << " min</div>"
      << "<div class=\"tile\"><b>" << r.findings.size() << "</b>findings</div>"
      << "<div class=\"tile\"><b>" << r.entries_in_period
      << "</b>log entries</div></div>\n";

  RenderFindings(r, out);

  out << "<h2>Accesses per week, by category</h2>\n" << WeeklyChart(r);
  out << "<h2>Accesses by role</h2>\n"
      << Bars(r.by_role, "accesses by role", "#2f6fb0");
  out << "<h2>Accesses by staff member (top " << r.options.top_staff
      << ")</h2>\n"
      << Bars(r.by_staff, "accesses by staff member", "#3a9a5b");

  out << "<h2>Accesses from abroad</h2>\n";
  if (r.abroad.empty()) {
    out << "<p class=\"none\">None in this period.</p>\n";
  } else {
    out << "<table><thead><tr><th>entry</th><th>when</th><th>who</th>"
           "<th>where</th><th>customer</th><th>why</th><th>what</th>"
           "<th>outcome</th><th>trip and approvals</th></tr></thead><tbody>\n";
    for (size_t i = 0; i < r.abroad.size() && i < kAbroadShown; ++i) {
      const AbroadRow& a = r.abroad[i];
      out << "<tr><td class=\"idx\">" << a.index << "</td><td>"
          << Local(a.time, zone) << "</td><td>" << Html(a.staff_id)
          << "</td><td>" << Html(a.country)
          << (a.network.empty() ? "" : " (" + Html(a.network) + ")")
          << "</td><td>" << Html(a.customer_id) << "</td><td>"
          << Html(a.category) << " " << Html(a.reference) << "</td><td>"
          << Html(a.action) << "</td><td>"
          << Html(custos::v1::Outcome_Name(a.outcome).substr(8)) << "</td><td>"
          << (a.approvals.empty() ? "<span class=\"bad\">none in the log</span>"
                                  : Html(absl::StrJoin(a.approvals, "; ")))
          << "</td></tr>\n";
    }
    out << "</tbody></table>\n";
    if (r.abroad.size() > kAbroadShown) {
      out << "<p>The first " << kAbroadShown << " of " << r.abroad.size()
          << " accesses from abroad; all are in the CSV and JSON "
             "exports.</p>\n";
    }
  }

  out << "<h2>Refused requests by reason</h2>\n"
      << Bars(r.refused_by_reason, "refused requests by reason", "#b8433f");

  out << "<h2>Take-identity sessions</h2>\n";
  if (r.sessions.empty()) {
    out << "<p class=\"none\">None in this period.</p>\n";
  } else {
    // The longest sessions, which are the ones to look at.
    std::vector<const SessionRow*> longest;
    uint64_t total_minutes = 0;
    for (const SessionRow& s : r.sessions) {
      longest.push_back(&s);
      total_minutes += absl::ToInt64Minutes(s.length());
    }
    std::stable_sort(longest.begin(), longest.end(),
                     [](const SessionRow* a, const SessionRow* b) {
                       return a->length() > b->length();
                     });
    if (longest.size() > kSessionsShown) longest.resize(kSessionsShown);
    out << "<p>" << r.sessions.size() << " sessions, " << total_minutes
        << " minutes in all"
        << (r.sessions.size() > kSessionsShown
                ? absl::StrCat("; the ", kSessionsShown,
                               " longest are shown, all are in the CSV and "
                               "JSON exports")
                : std::string())
        << ".</p>\n";
    std::vector<Count> minutes;
    out << "<table><thead><tr><th>session</th><th>who, as</th><th>why</th>"
           "<th>started</th><th class=\"n\">minutes</th><th class=\"n\">"
           "limit</th><th class=\"n\">pages</th><th>how it ended</th></tr>"
           "</thead><tbody>\n";
    for (const SessionRow* session : longest) {
      const SessionRow& s = *session;
      out << "<tr><td class=\"idx\">" << Html(s.session_id) << "</td><td>"
          << Html(s.staff_id) << " as " << Html(s.customer_id) << "</td><td>"
          << Html(s.category) << " " << Html(s.reference) << "</td><td>"
          << Local(s.start, zone) << "</td><td class=\"n\">"
          << absl::ToInt64Minutes(s.length()) << "</td><td class=\"n\">"
          << absl::ToInt64Minutes(s.limit) << "</td><td class=\"n\">"
          << s.page_views << "</td><td>" << Html(s.how_ended) << "</td></tr>\n";
      minutes.push_back(
          {absl::StrCat(s.staff_id, " ", s.session_id.substr(0, 10)),
           static_cast<uint64_t>(absl::ToInt64Minutes(s.length()))});
    }
    out << "</tbody></table>\n";
    out << Bars(minutes, "take-identity session minutes", "#7a58a8");
  }

  out << "<h2>Data kinds read</h2>\n";
  if (r.kinds.empty()) {
    out << "<p class=\"none\">No reads in this period.</p>\n";
  } else {
    std::vector<Count> records;
    out << "<table><thead><tr><th>data kind</th><th class=\"n\">reads</th>"
           "<th class=\"n\">records</th></tr></thead><tbody>\n";
    for (const KindRow& k : r.kinds) {
      const std::string name = custos::v1::DataKind_Name(k.kind);
      out << "<tr><td>" << Html(name) << "</td><td class=\"n\">" << k.reads
          << "</td><td class=\"n\">" << k.records << "</td></tr>\n";
      records.push_back({name, k.records});
    }
    out << "</tbody></table>\n"
        << Bars(records, "records read by data kind", "#d9822b");
  }

  RenderLogState(r, out);

  const ReportOptions& o = r.options;
  out << "<h2>How to read this report</h2>\n<ul>\n"
      << "<li>An <b>access</b> is an allowed request, read, take-identity "
         "session start, page view or action by staff on a customer's "
         "data.</li>\n"
      << absl::StrFormat(
             "<li>Working hours: Monday to Friday, %02d:%02d to %02d:%02d "
             "%s.</li>\n",
             o.work_start_minute / 60, o.work_start_minute % 60,
             o.work_end_minute / 60, o.work_end_minute % 60,
             Html(o.zone.name()))
      << "<li>Refusals repeat when one caller is refused " << o.repeat_refusals
      << " times within " << absl::FormatDuration(o.repeat_window) << ".</li>\n"
      << "<li>A session is near its limit at "
      << static_cast<int>(o.session_near_limit * 100)
      << "% of its category's maximum duration in the policy.</li>\n"
      << "<li>A grant's reads exceed the norm above " << o.read_norm_factor
      << " times the median records read per grant of its category (and at "
         "least "
      << o.min_records_over_norm << " records).</li>\n"
      << "<li>Contracts are as the staff directory says now; random-check "
         "rates as the policy says.</li>\n"
      << "<li>Entry numbers are positions in the log: <code>custos log prove "
         "--index N --verifier_key KEY</code> proves one.</li>\n</ul>\n";
  out << "</body></html>\n";
}

absl::flat_hash_map<uint64_t, std::string> FindingsByEntry(const Report& r) {
  absl::flat_hash_map<uint64_t, std::string> out;
  for (const Finding& f : r.findings) {
    for (uint64_t index : f.entries) {
      std::string& codes = out[index];
      if (absl::StrContains(codes, f.code)) continue;
      if (!codes.empty()) codes += ';';
      codes += f.code;
    }
  }
  return out;
}

bool InReport(const ReportOptions& options, const LogEntry& entry) {
  const absl::Time t = EntryTime(entry);
  return t >= options.from && t < options.to &&
         (options.customer_id.empty() ||
          entry.customer_id() == options.customer_id);
}

void WriteCsvHeader(std::ostream& out) {
  out << "index,time,actor_kind,actor,role,contract,country,network,customer,"
         "category,reference,action,resource,data_kind,records,outcome,"
         "status_code,reasons,grant,session,pending_request,policy_version,"
         "findings\r\n";
}

void WriteCsvRow(const LogEntry& e, absl::string_view findings,
                 std::ostream& out) {
  const auto& a = e.actor();
  out << e.index() << ',' << Iso(EntryTime(e)) << ','
      << custos::v1::ActorKind_Name(a.kind()) << ',' << Csv(a.id()) << ','
      << Csv(a.roles().empty() ? "" : a.roles(0)) << ','
      << custos::v1::ContractType_Name(a.contract()) << ',' << Csv(a.country())
      << ',' << Csv(a.network()) << ',' << Csv(e.customer_id()) << ','
      << Csv(e.category()) << ',' << Csv(e.reference()) << ','
      << Csv(e.action()) << ',' << Csv(e.resource()) << ','
      << custos::v1::DataKind_Name(e.data_kind()) << ',' << e.record_count()
      << ',' << custos::v1::Outcome_Name(e.outcome()) << ',' << e.status_code()
      << ',' << Csv(Reasons(e)) << ',' << Csv(e.grant_id()) << ','
      << Csv(e.session_id()) << ',' << Csv(e.pending_request_id()) << ','
      << Csv(e.policy_version()) << ',' << Csv(findings) << "\r\n";
}

void WriteJsonHead(const Report& r, absl::Time generated_at,
                   std::ostream& out) {
  const ReportOptions& o = r.options;
  auto time_or_null = [](absl::Time t) {
    return t == absl::InfinitePast() || t == absl::InfiniteFuture()
               ? std::string("null")
               : Json(Iso(t));
  };
  auto counts = [](const std::vector<Count>& cs) {
    std::vector<std::string> items;
    for (const Count& c : cs)
      items.push_back(absl::StrCat("{\"label\":", Json(c.label),
                                   ",\"value\":", c.value, "}"));
    return absl::StrCat("[", absl::StrJoin(items, ","), "]");
  };
  auto indices = [](const std::vector<uint64_t>& v) {
    return absl::StrCat("[", absl::StrJoin(v, ","), "]");
  };
  out << "{\"report\":{\"from\":" << time_or_null(o.from)
      << ",\"to\":" << time_or_null(o.to)
      << ",\"customer\":" << Json(o.customer_id)
      << ",\"time_zone\":" << Json(o.zone.name())
      << ",\"generated_at\":" << Json(Iso(generated_at))
      << ",\"policy_version\":" << Json(r.policy_version)
      << ",\"entries_in_period\":" << r.entries_in_period
      << ",\"accesses\":" << r.accesses << ",\"refused\":" << r.refused
      << ",\"pending\":" << r.pending;
  out << ",\n\"weekly\":[";
  bool first = true;
  for (const auto& [week, by_category] : r.weekly) {
    std::vector<std::string> items;
    for (const auto& [c, n] : by_category)
      items.push_back(absl::StrCat(Json(c), ":", n));
    out << (first ? "" : ",")
        << "{\"week\":" << Json(absl::FormatCivilTime(week))
        << ",\"by_category\":{" << absl::StrJoin(items, ",") << "}}";
    first = false;
  }
  out << "],\n\"by_role\":" << counts(r.by_role)
      << ",\n\"by_staff\":" << counts(r.by_staff)
      << ",\n\"refused_by_reason\":" << counts(r.refused_by_reason);
  out << ",\n\"abroad\":[";
  first = true;
  for (const AbroadRow& a : r.abroad) {
    std::vector<std::string> approvals;
    for (const auto& s : a.approvals) approvals.push_back(Json(s));
    out << (first ? "" : ",\n") << "{\"entry\":" << a.index
        << ",\"time\":" << Json(Iso(a.time))
        << ",\"staff\":" << Json(a.staff_id)
        << ",\"country\":" << Json(a.country)
        << ",\"network\":" << Json(a.network)
        << ",\"customer\":" << Json(a.customer_id)
        << ",\"category\":" << Json(a.category)
        << ",\"reference\":" << Json(a.reference)
        << ",\"action\":" << Json(a.action)
        << ",\"outcome\":" << Json(custos::v1::Outcome_Name(a.outcome))
        << ",\"approvals\":[" << absl::StrJoin(approvals, ",") << "]}";
    first = false;
  }
  out << "],\n\"sessions\":[";
  first = true;
  for (const SessionRow& s : r.sessions) {
    out << (first ? "" : ",\n") << "{\"session\":" << Json(s.session_id)
        << ",\"grant\":" << Json(s.grant_id)
        << ",\"staff\":" << Json(s.staff_id)
        << ",\"customer\":" << Json(s.customer_id)
        << ",\"category\":" << Json(s.category)
        << ",\"reference\":" << Json(s.reference)
        << ",\"start\":" << Json(Iso(s.start))
        << ",\"end\":" << Json(Iso(s.end))
        << ",\"seconds\":" << absl::ToInt64Seconds(s.length())
        << ",\"limit_seconds\":" << absl::ToInt64Seconds(s.limit)
        << ",\"page_views\":" << s.page_views << ",\"actions\":" << s.actions
        << ",\"how_ended\":" << Json(s.how_ended)
        << ",\"entries\":" << indices(s.entries) << "}";
    first = false;
  }
  out << "],\n\"data_kinds\":[";
  first = true;
  for (const KindRow& k : r.kinds) {
    out << (first ? "" : ",")
        << "{\"kind\":" << Json(custos::v1::DataKind_Name(k.kind))
        << ",\"reads\":" << k.reads << ",\"records\":" << k.records << "}";
    first = false;
  }
  out << "],\n\"findings\":[";
  first = true;
  for (const Finding& f : r.findings) {
    out << (first ? "" : ",\n") << "{\"code\":" << Json(f.code)
        << ",\"summary\":" << Json(f.summary)
        << ",\"entries\":" << indices(f.entries) << "}";
    first = false;
  }
  const LogState& log = r.log;
  out << "],\n\"log\":{\"verified\":" << (log.verified ? "true" : "false")
      << ",\"problem\":" << Json(log.problem) << ",\"signatures_checked\":"
      << (log.signatures_checked ? "true" : "false")
      << ",\"entries\":" << log.entries
      << ",\"covered_entries\":" << log.covered_entries
      << ",\"checkpoint_size\":" << log.checkpoint_size
      << ",\"checkpoint_root\":" << Json(log.checkpoint_root_hex)
      << ",\"checkpoint_note\":" << Json(log.checkpoint_note)
      << ",\"previous_note\":" << Json(log.previous_note)
      << ",\"consistent_with_previous\":"
      << (log.has_previous ? (log.consistent_with_previous ? "true" : "false")
                           : "null")
      << ",\"consistency_detail\":" << Json(log.consistency_detail)
      << "}},\n\"entries\":[\n";
}

void WriteJsonEntry(const LogEntry& e, absl::string_view findings, bool first,
                    std::ostream& out) {
  const auto& a = e.actor();
  std::vector<std::string> reasons;
  for (const auto& r : e.reasons()) {
    reasons.push_back(absl::StrCat("{\"code\":", Json(r.code()),
                                   ",\"message\":", Json(r.message()), "}"));
  }
  std::vector<std::string> roles;
  for (const auto& role : a.roles()) roles.push_back(Json(role));
  if (!first) out << ",\n";
  out << "{\"index\":" << e.index() << ",\"time\":" << Json(Iso(EntryTime(e)))
      << ",\"actor\":{\"kind\":" << Json(custos::v1::ActorKind_Name(a.kind()))
      << ",\"id\":" << Json(a.id()) << ",\"roles\":["
      << absl::StrJoin(roles, ",")
      << "],\"contract\":" << Json(custos::v1::ContractType_Name(a.contract()))
      << ",\"country\":" << Json(a.country())
      << ",\"network\":" << Json(a.network())
      << ",\"partner_organisation\":" << Json(a.partner_organisation())
      << "},\"customer\":" << Json(e.customer_id())
      << ",\"category\":" << Json(e.category())
      << ",\"reference\":" << Json(e.reference())
      << ",\"action\":" << Json(e.action())
      << ",\"resource\":" << Json(e.resource())
      << ",\"data_kind\":" << Json(custos::v1::DataKind_Name(e.data_kind()))
      << ",\"records\":" << e.record_count()
      << ",\"outcome\":" << Json(custos::v1::Outcome_Name(e.outcome()))
      << ",\"status_code\":" << e.status_code() << ",\"reasons\":["
      << absl::StrJoin(reasons, ",") << "],\"grant\":" << Json(e.grant_id())
      << ",\"session\":" << Json(e.session_id())
      << ",\"pending_request\":" << Json(e.pending_request_id())
      << ",\"policy_version\":" << Json(e.policy_version())
      << ",\"findings\":" << Json(findings) << "}";
}

void WriteJsonTail(std::ostream& out) { out << "\n]}\n"; }

}  // namespace custos::report
