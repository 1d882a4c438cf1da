#include "store/rocksdb/codec.h"

namespace tailgate::store::internal {
namespace {

constexpr char kVersion1 = 1;

void PutVarint64(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

bool GetVarint64(std::string_view* in, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift <= 63 && !in->empty(); shift += 7) {
    const uint8_t byte = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  return false;
}

bool ConsumeFixed64(std::string_view* in, uint64_t* v) {
  if (in->size() < 8) return false;
  *v = internal::GetFixed64(in->data());
  in->remove_prefix(8);
  return true;
}

bool GetLengthPrefixed(std::string_view* in, std::string_view* out) {
  uint64_t len = 0;
  if (!GetVarint64(in, &len) || len > in->size()) return false;
  *out = in->substr(0, len);
  in->remove_prefix(len);
  return true;
}

bool GetVersion(std::string_view* in) {
  if (in->empty() || in->front() != kVersion1) return false;
  in->remove_prefix(1);
  return true;
}

}  // namespace

void PutBigEndian64(std::string* out, uint64_t v) {
  char buf[8];
  for (int i = 7; i >= 0; --i) {
    buf[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  out->append(buf, 8);
}

uint64_t GetBigEndian64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// Little-endian regardless of host, so files move between machines.
void PutFixed64(std::string* out, uint64_t v) {
  char buf[8];
  for (int i = 0; i < 8; ++i) {
    buf[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  out->append(buf, 8);
}

uint64_t GetFixed64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

std::string IdKey(uint64_t id) {
  std::string k;
  PutBigEndian64(&k, id);
  return k;
}

uint64_t IdFromIdKey(std::string_view key) { return GetBigEndian64(key.data()); }

std::string EventKey(std::string_view topic, uint64_t id) {
  std::string k;
  k.reserve(topic.size() + 9);
  k.append(topic);
  k.push_back('\0');
  PutBigEndian64(&k, id);
  return k;
}

std::string EventKeyPrefix(std::string_view topic) {
  std::string k(topic);
  k.push_back('\0');
  return k;
}

std::string EventKeyLimit(std::string_view topic) {
  std::string k(topic);
  k.push_back('\1');
  return k;
}

bool ParseEventKey(std::string_view key, std::string_view* topic, uint64_t* id) {
  if (key.size() < 10 || key[key.size() - 9] != '\0') return false;
  *topic = key.substr(0, key.size() - 9);
  *id = GetBigEndian64(key.data() + key.size() - 8);
  return true;
}

std::string TimeKey(int64_t micros, uint64_t id) {
  std::string k;
  PutBigEndian64(&k, OrderedMicros(micros));
  PutBigEndian64(&k, id);
  return k;
}

bool ParseTimeKey(std::string_view key, int64_t* micros, uint64_t* id) {
  if (key.size() != 16) return false;
  *micros = MicrosFromOrdered(GetBigEndian64(key.data()));
  *id = GetBigEndian64(key.data() + 8);
  return true;
}

std::string DedupKey(std::string_view topic, std::string_view key) {
  std::string k;
  k.reserve(topic.size() + 1 + key.size());
  k.append(topic);
  k.push_back('\0');
  k.append(key);
  return k;
}

std::string DedupTimeKey(int64_t micros, std::string_view dedup_key) {
  std::string k;
  PutBigEndian64(&k, OrderedMicros(micros));
  k.append(dedup_key);
  return k;
}

bool ParseDedupTimeKey(std::string_view key, int64_t* micros, std::string_view* dedup_key) {
  if (key.size() < 8) return false;
  *micros = MicrosFromOrdered(GetBigEndian64(key.data()));
  *dedup_key = key.substr(8);
  return true;
}

std::string TopicMetaKey(std::string_view topic) {
  std::string k(kTopicMetaPrefix);
  k.append(topic);
  return k;
}

void EncodeEventValue(std::string* out, int64_t publish_micros, std::string_view type,
                      std::string_view data) {
  out->clear();
  out->reserve(1 + 8 + 1 + type.size() + data.size());
  out->push_back(kVersion1);
  PutFixed64(out, static_cast<uint64_t>(publish_micros));
  PutVarint64(out, type.size());
  out->append(type);
  out->append(data);  // the rest of the value: no length needed
}

bool DecodeEventValue(std::string_view in, EventValue* v) {
  uint64_t micros = 0;
  if (!GetVersion(&in) || !ConsumeFixed64(&in, &micros) || !GetLengthPrefixed(&in, &v->type)) {
    return false;
  }
  v->publish_micros = static_cast<int64_t>(micros);
  v->data = in;
  return true;
}

void EncodeIdValue(std::string* out, std::string_view topic, uint64_t data_bytes,
                   int64_t publish_micros) {
  out->clear();
  out->push_back(kVersion1);
  PutVarint64(out, topic.size());
  out->append(topic);
  PutVarint64(out, data_bytes);
  PutFixed64(out, static_cast<uint64_t>(publish_micros));
}

bool DecodeIdValue(std::string_view in, IdValue* v) {
  uint64_t micros = 0;
  if (!GetVersion(&in) || !GetLengthPrefixed(&in, &v->topic) ||
      !GetVarint64(&in, &v->data_bytes) || !ConsumeFixed64(&in, &micros)) {
    return false;
  }
  v->publish_micros = static_cast<int64_t>(micros);
  return true;
}

std::string EncodeDedupValue(const DedupValue& v) {
  std::string out;
  out.push_back(kVersion1);
  PutFixed64(&out, v.id);
  PutFixed64(&out, static_cast<uint64_t>(v.seen_micros));
  return out;
}

bool DecodeDedupValue(std::string_view in, DedupValue* v) {
  uint64_t micros = 0;
  if (!GetVersion(&in) || !ConsumeFixed64(&in, &v->id) || !ConsumeFixed64(&in, &micros)) return false;
  v->seen_micros = static_cast<int64_t>(micros);
  return true;
}

std::string EncodeTopicMeta(const TopicMeta& m) {
  std::string out;
  out.push_back(kVersion1);
  PutVarint64(&out, m.first_id);
  PutVarint64(&out, m.last_id);
  PutVarint64(&out, m.count);
  PutVarint64(&out, m.bytes);
  PutVarint64(&out, m.trimmed_through);
  out.push_back(m.deleted ? 1 : 0);
  return out;
}

bool DecodeTopicMeta(std::string_view in, TopicMeta* m) {
  if (!GetVersion(&in) || !GetVarint64(&in, &m->first_id) || !GetVarint64(&in, &m->last_id) ||
      !GetVarint64(&in, &m->count) || !GetVarint64(&in, &m->bytes) ||
      !GetVarint64(&in, &m->trimmed_through) || in.size() != 1) {
    return false;
  }
  m->deleted = in.front() != 0;
  return true;
}

}  // namespace tailgate::store::internal
