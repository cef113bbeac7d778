#include "core/plan.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/artifacts.hpp"
#include "core/handoff.hpp"
#include "core/inputs.hpp"
#include "core/json_codec.hpp"
#include "core/report.hpp"
#include "core/text.hpp"
#include "core/workflow_check.hpp"

namespace troupe {

namespace fs = std::filesystem;

namespace {

std::vector<std::string> lower_all(std::vector<std::string> xs) {
  for (auto& x : xs)
    x = ascii_lower(x);
  return xs;
}

std::string cut(const std::string& s, size_t n) {
  return s.size() <= n ? s : s.substr(0, n) + "...";
}

bool word_char(unsigned char c) {
  return std::isalnum(c) || c >= 0x80;
}

/// True if `word` occurs in `text` (both lower case) as a whole word or
/// phrase: not inside a longer word ("test" is not in "latest").
bool mentions(const std::string& text, const std::string& word) {
  if (word.empty())
    return false;
  for (size_t at = text.find(word); at != std::string::npos;
       at = text.find(word, at + 1)) {
    auto end = at + word.size();
    bool left = at == 0 || !word_char(static_cast<unsigned char>(text[at - 1]));
    bool right = end >= text.size()
                 || !word_char(static_cast<unsigned char>(text[end]));
    if (left && right)
      return true;
  }
  return false;
}

/// mentions(), also in the plural ("students", "élèves", "travaux").
bool mentions_word(const std::string& text, const std::string& word) {
  for (const char* suffix : {"", "s", "es", "x"})
    if (mentions(text, word + suffix))
      return true;
  return false;
}

/// Lower-case ASCII letters, digits and dashes, for task ids; common
/// accented letters lose their accent.
std::string slug(const std::string& s) {
  static const std::map<std::string, char> accents{
    {"à", 'a'}, {"â", 'a'}, {"ä", 'a'}, {"á", 'a'}, {"ç", 'c'}, {"é", 'e'},
    {"è", 'e'}, {"ê", 'e'}, {"ë", 'e'}, {"î", 'i'}, {"ï", 'i'}, {"í", 'i'},
    {"ô", 'o'}, {"ö", 'o'}, {"ó", 'o'}, {"ù", 'u'}, {"û", 'u'}, {"ü", 'u'},
    {"ú", 'u'}, {"ñ", 'n'}, {"É", 'e'}, {"È", 'e'}, {"À", 'a'}, {"Ç", 'c'}};
  std::string out;
  for (size_t i = 0; i < s.size() && out.size() < 40;) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out += std::isalnum(c) ? static_cast<char>(std::tolower(c)) : '-';
      ++i;
      continue;
    }
    bool mapped = false;
    for (auto& [from, to] : accents)
      if (s.compare(i, from.size(), from) == 0) {
        out += to;
        i += from.size();
        mapped = true;
        break;
      }
    if (!mapped)
      ++i; // other characters are left out
  }
  std::string tidy;
  for (char c : out)
    if (c != '-' || (!tidy.empty() && tidy.back() != '-'))
      tidy += c;
  while (!tidy.empty() && tidy.back() == '-')
    tidy.pop_back();
  return tidy;
}

/// slug() cut to at most `n` characters at a dash, not inside a word.
std::string short_slug(const std::string& s, size_t n) {
  auto full = slug(s);
  if (full.size() <= n)
    return full;
  auto cut_at = full[n] == '-' ? n : full.rfind('-', n);
  return full.substr(0, cut_at == std::string::npos || cut_at == 0 ? n : cut_at);
}

/// The name of a list item, for its task id and description.
std::string item_name(const json& item, size_t index) {
  if (item.is_string())
    return item.get<std::string>();
  if (item.is_object())
    for (const char* k : {"name", "student_name", "student", "full_name",
                          "title", "file", "path", "id"})
      if (auto i = item.find(k); i != item.end()) {
        if (i->is_string())
          return i->get<std::string>();
        if (i->is_number())
          return i->dump();
      }
  return "item " + std::to_string(index + 1);
}

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> cells;
  std::string cell;
  bool quoted = false;
  for (char c : line) {
    if (c == '"')
      quoted = !quoted;
    else if (c == ',' && !quoted)
      cells.push_back(trim(cell)), cell.clear();
    else
      cell += c;
  }
  cells.push_back(trim(cell));
  return cells;
}

/// The items of a context file, if it is a list: a JSON array, the first
/// array inside a JSON object, CSV rows (with a header), or text lines.
std::vector<json> list_items(const context_file& f) {
  std::vector<json> items;
  if (!f.parsed.is_null()) {
    const json* arr = f.parsed.is_array() ? &f.parsed : nullptr;
    if (!arr && f.parsed.is_object())
      for (auto& [k, v] : f.parsed.items())
        if (v.is_array()) {
          arr = &v;
          break;
        }
    if (arr)
      for (auto& x : *arr)
        items.push_back(x);
    return items;
  }
  std::istringstream in{f.text};
  std::string line;
  bool csv = ascii_lower(fs::path{f.name}.extension().string()) == ".csv";
  std::vector<std::string> header;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#')
      continue;
    if (!csv) {
      items.emplace_back(line);
      continue;
    }
    auto cells = split_csv_line(line);
    if (header.empty()) {
      header = lower_all(cells);
      continue;
    }
    json row = json::object();
    for (size_t i = 0; i < cells.size() && i < header.size(); ++i)
      row[header[i]] = cells[i];
    items.push_back(row);
  }
  return items;
}

/// A request's first line, cut short: the run's title.
std::string request_title(const std::string& request) {
  auto line = trim(request.substr(0, request.find('\n')));
  return line.empty() ? "request" : cut(line, 80);
}

/// Fan-out words: the request is about every item of a list.
bool asks_for_each(const std::string& lowered) {
  for (const char* w : {"all", "each", "every", "tous", "toutes", "chaque"})
    if (mentions(lowered, w))
      return true;
  return false;
}

/// The JSON held by an answer: all of it, else its last fenced block that
/// parses, else what lies between its first '{' and its last '}'.
std::optional<json> find_json(const std::string& answer) {
  auto whole = parse_json_or_discard(answer);
  if (!whole.is_discarded())
    return whole;
  for (size_t end = answer.size(); end > 0;) {
    auto open = answer.rfind("```", end - 1);
    if (open == std::string::npos || open == 0)
      break;
    auto prev = answer.rfind("```", open - 1);
    if (prev == std::string::npos)
      break;
    auto body = answer.find('\n', prev);
    if (body != std::string::npos && body < open) {
      auto j = parse_json_or_discard(answer.substr(body + 1, open - body - 1));
      if (!j.is_discarded())
        return j;
    }
    end = prev;
  }
  for (auto [open, close] : {std::pair{'{', '}'}, std::pair{'[', ']'}}) {
    auto b = answer.find(open);
    auto e = answer.rfind(close);
    if (b != std::string::npos && e != std::string::npos && e > b) {
      auto j = parse_json_or_discard(answer.substr(b, e - b + 1));
      if (!j.is_discarded())
        return j;
    }
  }
  return std::nullopt;
}

} // namespace

std::vector<context_file> load_context_files(const std::vector<std::string>& paths,
                                             problems& out, size_t max_bytes) {
  std::vector<context_file> files;
  for (auto& p : paths) {
    std::error_code ec;
    auto st = fs::status(p, ec);
    if (ec || !fs::exists(st)) {
      out.push_back("--context " + p + ": no such file");
      continue;
    }
    if (!fs::is_regular_file(st)) {
      out.push_back("--context " + p + ": not a regular file");
      continue;
    }
    auto size = fs::file_size(p, ec);
    if (!ec && size > max_bytes) {
      out.push_back("--context " + p + ": " + std::to_string(size)
                    + " bytes, at most " + std::to_string(max_bytes)
                    + " allowed");
      continue;
    }
    std::ifstream in{p, std::ios::binary};
    if (!in) {
      out.push_back("--context " + p + ": cannot be read");
      continue;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    context_file f{p, ss.str(), nullptr};
    auto j = parse_json_or_discard(f.text);
    if (!j.is_discarded())
      f.parsed = std::move(j);
    files.push_back(std::move(f));
  }
  return files;
}

std::string planning_prompt(const config& cfg, const std::string& request,
                            const std::vector<context_file>& context,
                            const problems& previous_errors,
                            const std::string& previous_answer) {
  std::string p = "# Plan request\n\n"
                  "Break the request below into tasks for the workers "
                  "listed. Do not do the work yourself.\n\n## Request\n\n"
                  + request + "\n\n## Workers\n\n";
  for (auto& w : cfg.workers) {
    p += "- `" + w.name + "`: " + (w.role.empty() ? "(no role given)" : w.role);
    if (!w.keywords.empty()) {
      p += " Keywords:";
      for (auto& k : w.keywords)
        p += " " + k;
      p += ".";
    }
    p += "\n";
  }
  if (!context.empty()) {
    p += "\n## Context\n";
    for (auto& f : context)
      p += "\n### " + fs::path{f.name}.filename().string() + "\n\n```"
           + (f.parsed.is_null() ? "" : "json") + "\n" + f.text
           + (f.text.empty() || f.text.back() == '\n' ? "" : "\n") + "```\n";
  }
  p += "\n## Limits\n\nAt most " + std::to_string(cfg.orchestrator.max_tasks)
       + " tasks; no dependency chain longer than "
       + std::to_string(cfg.orchestrator.max_depth)
       + " tasks; never the same description twice for one worker.\n\n"
         "## Answer format\n\nAnswer with only a JSON object, no prose:\n\n"
         "{\"tasks\": [{\"task_id\": \"short-unique-id\", \"worker\": \"one of "
         "the workers above\", \"description\": \"complete, self-contained "
         "instruction\", \"dependencies\": [], \"priority\": \"medium\", "
         "\"context\": {}}]}\n";
  if (!previous_errors.empty()) {
    p += "\n## Your previous plan was refused\n\n";
    for (auto& e : previous_errors)
      p += "- " + e + "\n";
    p += "\nYour previous answer began:\n\n```\n" + cut(previous_answer, 4000)
         + "\n```\n\nAnswer again with the whole corrected plan.\n";
  }
  return p;
}

bool check_plan(const workflow& wf, const config& cfg, problems& out) {
  auto before = out.size();
  workflow_limits limits{cfg.orchestrator.max_tasks, cfg.orchestrator.max_depth};
  check_workflow(wf, cfg.worker_names(), out, limits);
  // The same work twice is waste at best and a loop at worst.
  std::map<std::pair<std::string, std::string>, std::string> seen;
  for (auto& t : wf.tasks) {
    auto key = std::make_pair(t.worker, ascii_lower(trim(t.description)));
    auto [i, fresh] = seen.emplace(key, t.task_id);
    if (!fresh)
      out.push_back("task \"" + t.task_id + "\": worker " + t.worker
                    + " already has the same description in task \""
                    + i->second + "\"");
  }
  return out.size() == before;
}

std::optional<workflow> read_plan(const std::string& answer, const config& cfg,
                                  const std::string& request, problems& out) {
  auto before = out.size();
  auto j = find_json(answer);
  if (!j) {
    out.push_back("the answer holds no JSON plan (expected {\"tasks\": "
                  "[...]}); it begins: "
                  + cut(trim(answer), 160));
    return std::nullopt;
  }
  json tasks;
  if (j->is_array())
    tasks = *j;
  else if (j->is_object() && j->contains("tasks"))
    tasks = (*j)["tasks"];
  else {
    out.push_back("the plan has no \"tasks\" array");
    return std::nullopt;
  }
  json wj = {{"name", request_title(request)},
             {"description", request},
             {"tasks", tasks},
             {"synthesize", true}};
  auto wf = workflow_from_json(wj, out);
  if (!wf || out.size() != before)
    return std::nullopt;
  if (!check_plan(*wf, cfg, out))
    return std::nullopt;
  return wf;
}

std::optional<workflow> route_request(const config& cfg,
                                      const std::string& request,
                                      const std::vector<context_file>& context,
                                      problems& out) {
  auto text = ascii_lower(request);
  // Keywords first; role words (5 letters or more) only if no keyword
  // matched any worker.
  std::vector<std::pair<const worker_config*, size_t>> scores;
  for (auto& w : cfg.workers) {
    size_t n = 0;
    for (auto& k : w.keywords)
      n += mentions_word(text, ascii_lower(k)) ? 1 : 0;
    scores.emplace_back(&w, n);
  }
  auto none = [&] {
    return std::all_of(scores.begin(), scores.end(),
                       [](auto& s) { return s.second == 0; });
  };
  if (none())
    for (auto& [w, n] : scores) {
      std::istringstream words{ascii_lower(w->role)};
      std::string word;
      while (words >> word) {
        while (!word.empty() && !word_char(static_cast<unsigned char>(word.back())))
          word.pop_back();
        if (word.size() >= 5 && mentions(text, word))
          ++n;
      }
    }
  if (none()) {
    std::string hint;
    for (auto& w : cfg.workers) {
      hint += (hint.empty() ? "" : "; ") + w.name + ":";
      for (auto& k : w.keywords)
        hint += " " + k;
    }
    out.push_back("no worker matches the request (the simulator routes by "
                  "keywords: " + hint + ")");
    return std::nullopt;
  }
  const worker_config* best = nullptr;
  size_t best_n = 0;
  for (auto& [w, n] : scores)
    if (n > best_n)
      best = w, best_n = n;
  workflow wf;
  wf.name = request_title(request);
  wf.description = request;
  std::set<std::string> ids;
  auto unique_id = [&](std::string base) {
    if (base.empty())
      base = "task";
    auto id = base;
    for (int k = 2; ids.count(id); ++k)
      id = base + "-" + std::to_string(k);
    ids.insert(id);
    return id;
  };
  json whole_context = json::object();
  for (auto& f : context)
    whole_context[fs::path{f.name}.filename().string()] =
      f.parsed.is_null() ? json(f.text) : f.parsed;
  std::vector<json> items;
  if (asks_for_each(text))
    for (auto& f : context)
      if (items = list_items(f); !items.empty())
        break;
  std::vector<std::string> fanned;
  for (size_t i = 0; i < items.size(); ++i) {
    auto name = item_name(items[i], i);
    task t;
    t.task_id = unique_id(best->name + "-" + slug(name));
    t.worker = best->name;
    t.description = request + "\n\nThis task covers one item only: " + name + ".";
    t.context = {{"item", items[i]}};
    fanned.push_back(t.task_id);
    wf.tasks.push_back(std::move(t));
  }
  for (auto& [w, n] : scores) {
    if (n == 0 || (!fanned.empty() && w == best))
      continue;
    task t;
    t.task_id = unique_id(w->name + "-" + short_slug(request, 24));
    t.worker = w->name;
    t.description = request;
    if (!whole_context.empty())
      t.context = {{"request_context", whole_context}};
    // Work on the whole batch comes after the batch.
    t.dependencies = fanned;
    wf.tasks.push_back(std::move(t));
  }
  if (!check_plan(wf, cfg, out))
    return std::nullopt;
  return wf;
}

namespace {

/// A small text file a result names, read from where this node has it.
std::optional<std::string> small_artifact(const result& r, const std::string& path,
                                          const std::string& root, size_t room) {
  namespace fs = std::filesystem;
  std::vector<std::string> where{path};
  auto prefix = "workspaces/" + r.worker + "/";
  if (path.compare(0, prefix.size(), prefix) == 0
      && check_handoff_name(path.substr(prefix.size())).empty())
    where.push_back(handoff_dir(root, r.worker, r.task_id) + "/"
                    + path.substr(prefix.size()));
  auto shared = shared_folders(root);
  for (auto& p : where) {
    auto l = locate(p, root, shared);
    std::error_code ec;
    if (l.where != placement::regular_file
        || fs::file_size(l.path, ec) > std::min(room, synthesis_file_bytes) || ec)
      continue;
    problems ignored; // a file that cannot be read is simply not shown
    auto text = read_text_file(l.path, ignored);
    if (text && text->find('\0') == std::string::npos)
      return text;
  }
  return std::nullopt;
}

} // namespace

std::string synthesis_prompt(const std::string& request, const run_summary& s,
                             const std::string& root) {
  size_t room = synthesis_total_bytes;
  std::string p = "# Synthesis request\n\nWrite the answer to the request "
                  "below from the results of its tasks only.\n\n## Request\n\n"
                  + request + "\n\n## Results\n";
  for (auto& r : s.results) {
    p += "\n### " + r.task_id + " (" + r.worker + "): "
         + std::string{to_string(r.state)} + "\n\n";
    if (r.error)
      p += "Error (" + r.error->kind + "): " + r.error->message + "\n";
    else if (!r.summary.empty())
      p += r.summary + "\n";
    for (auto& f : r.findings)
      p += "- " + f + "\n";
    if (!r.artifacts.empty()) {
      p += "Artifacts (paths relative to the project root):";
      for (auto& a : r.artifacts)
        p += " " + a;
      p += "\n";
      for (auto& a : r.artifacts) {
        if (root.empty() || !r.ok())
          break;
        if (auto text = small_artifact(r, a, root, room)) {
          room -= text->size();
          p += "\nContent of " + a + ":\n\n````\n" + *text + "\n````\n";
        }
      }
    }
  }
  p += "\n## Answer format\n\nMarkdown for the person who asked: the outcome "
       "first, then the details grouped the way they will use them, then "
       "what failed and what to do about it. Cite artifact paths. Do not "
       "invent results for tasks that failed.\n";
  return p;
}

} // namespace troupe
