#include "gateway/server/flag_precheck.h"

#include <fstream>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tailgate {
namespace {

bool HandledByAbsl(absl::string_view name) {
  for (absl::string_view builtin :
       {"help", "helpfull", "helpshort", "helppackage", "version", "only_check_args", "helpon",
        "helpmatch", "flagfile", "fromenv", "tryfromenv", "undefok"}) {
    if (name == builtin) return true;
  }
  return false;
}

absl::Status CheckArgs(const std::vector<std::string>& args, const std::string& origin,
                       int depth);

absl::Status CheckFlagfiles(absl::string_view files, int depth) {
  if (depth > 10) return absl::InvalidArgumentError("--flagfile: nested too deeply");
  for (absl::string_view file : absl::StrSplit(files, ',', absl::SkipEmpty())) {
    std::ifstream in{std::string(file)};
    if (!in) {
      return absl::InvalidArgumentError(absl::StrCat("--flagfile=", file, ": cannot be read"));
    }
    std::vector<std::string> args;
    std::string line;
    while (std::getline(in, line)) {
      absl::string_view l = absl::StripAsciiWhitespace(line);
      if (l.empty() || l[0] == '#') continue;
      args.emplace_back(l);
    }
    if (absl::Status s = CheckArgs(args, absl::StrCat(" (in --flagfile=", file, ")"), depth + 1);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status CheckArgs(const std::vector<std::string>& args, const std::string& origin,
                       int depth) {
  for (size_t i = 0; i < args.size(); ++i) {
    absl::string_view arg = args[i];
    if (arg == "--") break;  // The rest are positional.
    if (!absl::ConsumePrefix(&arg, "--") && !absl::ConsumePrefix(&arg, "-")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unexpected argument '", arg, "'", origin, "; every setting is a --flag=value"));
    }
    const size_t eq = arg.find('=');
    const absl::string_view name = arg.substr(0, eq);
    const bool has_value = eq != absl::string_view::npos;
    if (HandledByAbsl(name)) {
      if (name == "flagfile") {
        std::string files =
            has_value ? std::string(arg.substr(eq + 1)) : (i + 1 < args.size() ? args[++i] : "");
        if (absl::Status s = CheckFlagfiles(files, depth); !s.ok()) return s;
      } else if (!has_value && (name == "fromenv" || name == "tryfromenv" ||
                                name == "undefok" || name == "helpon" || name == "helpmatch")) {
        ++i;
      }
      continue;
    }
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    bool negated = false;
    if (flag == nullptr && absl::StartsWith(name, "no")) {
      flag = absl::FindCommandLineFlag(name.substr(2));
      negated = flag != nullptr && flag->IsOfType<bool>() && !has_value;
      if (!negated) flag = nullptr;
    }
    if (flag == nullptr || flag->IsRetired()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag --", name, origin, " (tailgate --help lists them)"));
    }
    if (negated) continue;
    std::string value;
    if (has_value) {
      value = std::string(arg.substr(eq + 1));
    } else if (flag->IsOfType<bool>()) {
      value = "true";
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return absl::InvalidArgumentError(absl::StrCat("--", name, origin, " needs a value"));
    }
    // Parse into a scratch flag value: the real assignment is absl's, later.
    const std::string saved = flag->CurrentValue();
    std::string error;
    const bool ok = flag->ParseFrom(value, &error);
    std::string ignored;
    flag->ParseFrom(saved, &ignored);
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, "=", value, origin,
                                                     ": invalid value: ", error));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status PrecheckFlags(int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  return CheckArgs(args, "", 0);
}

}  // namespace tailgate
