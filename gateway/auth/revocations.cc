#include "gateway/auth/revocations.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "store/absl_view.h"
#include "gateway/auth/grants.h"  // PatternsCover

namespace tailgate {
namespace {

constexpr char kHeader[] =
    "# tailgate revocations v1: KIND UNTIL_UNIX_MICROS CREATED_UNIX_MICROS VALUE (%-escaped)";

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

// A subject is any JSON string: escape what would break the line format
// (whitespace, controls, '%', non-ASCII bytes) so that every value is one token.
std::string Escape(absl::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c <= 0x20 || c >= 0x7f || c == '%') {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

bool Unescape(absl::string_view s, std::string* out) {
  out->clear();
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      *out += s[i];
      continue;
    }
    int v = 0;
    if (i + 2 >= s.size()) return false;
    if (!absl::SimpleHexAtoi(s.substr(i + 1, 2), &v)) return false;
    *out += static_cast<char>(v);
    i += 2;
  }
  return true;
}

absl::Status WriteAll(int fd, const std::string& text, const std::string& path) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::InternalError(absl::StrCat(path, ": write: ", std::strerror(errno)));
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

const char* RevocationKindName(Revocation::Kind kind) {
  return kind == Revocation::Kind::kSubject ? "subject" : "pattern";
}

absl::StatusOr<std::unique_ptr<RevocationList>> RevocationList::Open(std::string path,
                                                                     absl::Time now) {
  std::unique_ptr<RevocationList> list(new RevocationList(path));
  if (path.empty()) return list;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return list;  // Nothing revoked yet.
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot read: ", std::strerror(errno)));
  }
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Map entries;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    const std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    int64_t until = 0, created = 0;
    Entry e;
    auto bad = [&](absl::string_view why) {
      return absl::DataLossError(absl::StrCat(path, ":", line_no, ": ", why,
                                              " (fix or remove the file; it is rewritten on the "
                                              "next revocation)"));
    };
    if (f.size() != 4) return bad("expected 4 fields");
    if (f[0] == "subject") {
      e.revocation.kind = Revocation::Kind::kSubject;
    } else if (f[0] == "pattern") {
      e.revocation.kind = Revocation::Kind::kPattern;
    } else {
      return bad("unknown kind");
    }
    if (!absl::SimpleAtoi(f[1], &until) || !absl::SimpleAtoi(f[2], &created)) {
      return bad("bad time");
    }
    if (!Unescape(f[3], &e.revocation.value) ||
        e.revocation.value.empty()) {
      return bad("bad value");
    }
    e.revocation.until = absl::FromUnixMicros(until);
    e.revocation.created = absl::FromUnixMicros(created);
    if (e.revocation.until <= now) continue;  // Expired while we were down.
    if (e.revocation.kind == Revocation::Kind::kPattern) {
      absl::StatusOr<store::TopicPattern> p =
          store::TopicPattern::Parse(e.revocation.value, "pattern");
      if (!p.ok()) return bad(p.status().message());
      e.pattern.push_back(*std::move(p));
    }
    Key key{e.revocation.kind, e.revocation.value};
    entries[std::move(key)] = std::move(e);
  }
  list->Install(std::move(entries));
  return list;
}

absl::Status RevocationList::CheckSubject(std::string_view subject, absl::Time now) const {
  if (subject.empty() || size_.load(std::memory_order_acquire) == 0) return absl::OkStatus();
  std::lock_guard lock(mu_);
  auto it = entries_.find(Key{Revocation::Kind::kSubject, std::string(subject)});
  if (it == entries_.end() || it->second.revocation.until <= now) return absl::OkStatus();
  return absl::UnauthenticatedError(absl::StrCat("token subject ", AbslView(subject), " is revoked until ",
                                                 Rfc3339(it->second.revocation.until)));
}

absl::Status RevocationList::CheckPatterns(const std::vector<store::TopicPattern>& requested,
                                           absl::Time now) const {
  if (size_.load(std::memory_order_acquire) == 0) return absl::OkStatus();
  std::lock_guard lock(mu_);
  for (const auto& [key, e] : entries_) {
    if (key.first != Revocation::Kind::kPattern || e.revocation.until <= now) continue;
    for (const store::TopicPattern& q : requested) {
      if (PatternsCover(e.pattern, q)) {
        return absl::PermissionDeniedError(
            absl::StrCat("subscriptions to \"", q.str(), "\" are revoked (pattern \"",
                         e.revocation.value, "\") until ", Rfc3339(e.revocation.until)));
      }
    }
  }
  return absl::OkStatus();
}

RevocationList::Map RevocationList::UnexpiredCopy(absl::Time now) const {
  Map next;
  {
    std::lock_guard lock(mu_);
    next = entries_;
  }
  for (auto it = next.begin(); it != next.end();) {
    it = it->second.revocation.until <= now ? next.erase(it) : std::next(it);
  }
  return next;
}

absl::Status RevocationList::Add(Revocation r, absl::Time now) {
  if (r.value.empty()) {
    return absl::InvalidArgumentError(
        r.kind == Revocation::Kind::kSubject ? "subject: must not be empty"
                                             : "pattern: must not be empty");
  }
  if (r.until <= now) {
    return absl::InvalidArgumentError(
        absl::StrCat("until: ", Rfc3339(r.until), " is not in the future"));
  }
  Entry e;
  if (r.kind == Revocation::Kind::kPattern) {
    absl::StatusOr<store::TopicPattern> p = store::TopicPattern::Parse(r.value, "pattern");
    if (!p.ok()) return p.status();
    e.pattern.push_back(*std::move(p));
  }
  if (r.created == absl::InfinitePast()) r.created = now;
  e.revocation = std::move(r);
  std::lock_guard write(write_mu_);
  Map next = UnexpiredCopy(now);
  next[Key{e.revocation.kind, e.revocation.value}] = std::move(e);
  if (absl::Status s = Persist(next); !s.ok()) return s;
  Install(std::move(next));
  return absl::OkStatus();
}

absl::Status RevocationList::Remove(Revocation::Kind kind, const std::string& value,
                                    absl::Time now) {
  std::lock_guard write(write_mu_);
  Map next = UnexpiredCopy(now);
  if (next.erase(Key{kind, value}) == 0) {
    return absl::NotFoundError(
        absl::StrCat("no revocation of ", RevocationKindName(kind), " ", value));
  }
  if (absl::Status s = Persist(next); !s.ok()) return s;
  Install(std::move(next));
  return absl::OkStatus();
}

std::vector<Revocation> RevocationList::List(absl::Time now) const {
  std::vector<Revocation> out;
  std::lock_guard lock(mu_);
  for (const auto& [key, e] : entries_) {
    if (e.revocation.until > now) out.push_back(e.revocation);
  }
  return out;  // Map order: subjects (kSubject < kPattern) first, by value.
}

void RevocationList::Install(Map entries) {
  std::lock_guard lock(mu_);
  entries_ = std::move(entries);
  size_.store(entries_.size(), std::memory_order_release);
}

absl::Status RevocationList::Persist(const Map& entries) const {
  if (path_.empty()) return absl::OkStatus();
  std::string text = absl::StrCat(kHeader, "\n");
  for (const auto& [key, e] : entries) {
    absl::StrAppend(&text, RevocationKindName(key.first), " ",
                    absl::ToUnixMicros(e.revocation.until), " ",
                    absl::ToUnixMicros(e.revocation.created), " ", Escape(e.revocation.value),
                    "\n");
  }
  // Temp file + fsync + rename + fsync of the directory: the path holds the
  // old list or the new one, whatever happens in between.
  const std::string tmp = path_ + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(absl::StrCat(tmp, ": open: ", std::strerror(errno)));
  absl::Status s = WriteAll(fd, text, tmp);
  if (s.ok() && ::fsync(fd) != 0) {
    s = absl::InternalError(absl::StrCat(tmp, ": fsync: ", std::strerror(errno)));
  }
  ::close(fd);
  if (s.ok() && ::rename(tmp.c_str(), path_.c_str()) != 0) {
    s = absl::InternalError(absl::StrCat(path_, ": rename: ", std::strerror(errno)));
  }
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  const size_t slash = path_.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path_.substr(0, slash + 1);
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return absl::OkStatus();
}

}  // namespace tailgate
