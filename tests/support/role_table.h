// README.md's "Roles" table, read back for the tests that check the code and
// the running services against it: route family -> role -> allowed.
// Header-only; test code only.
#pragma once

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace ledger::testing {

using RoleTable = std::map<std::string, std::map<std::string, bool>>;

// Empty when the file or the section is missing; `problem` names a cell
// that is neither "yes" nor "no".
inline RoleTable readme_role_table(const std::string& readme_path, std::string* problem = nullptr) {
  std::ifstream in(readme_path);
  RoleTable table;
  if (!in) return table;
  auto cells = [](const std::string& row) {
    std::vector<std::string> out;
    std::stringstream ss(row);
    std::string cell;
    std::getline(ss, cell, '|');  // before the first bar
    while (std::getline(ss, cell, '|')) {
      const auto b = cell.find_first_not_of(' ');
      const auto e = cell.find_last_not_of(' ');
      out.push_back(b == std::string::npos ? "" : cell.substr(b, e - b + 1));
    }
    return out;
  };
  std::string line;
  bool in_section = false;
  std::vector<std::string> header;
  while (std::getline(in, line)) {
    if (line.rfind("### Roles", 0) == 0) {
      in_section = true;
      continue;
    }
    if (!in_section) continue;
    if (line.rfind("#", 0) == 0) break;
    if (line.rfind("| route family |", 0) == 0) {
      header = cells(line);
      continue;
    }
    if (header.empty() || line.rfind("|", 0) != 0 || line.rfind("|---", 0) == 0) continue;
    const auto row = cells(line);
    std::string family = row.empty() ? "" : row[0];
    if (family.size() > 2 && family.front() == '`') family = family.substr(1, family.size() - 2);
    for (std::size_t i = 2; i < header.size(); ++i) {
      const std::string cell = i < row.size() ? row[i] : "";
      if (cell != "yes" && cell != "no" && problem) *problem = line;
      table[family][header[i]] = cell == "yes";
    }
  }
  return table;
}

}  // namespace ledger::testing
