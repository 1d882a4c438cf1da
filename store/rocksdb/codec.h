// Key and value encodings of the RocksDB log. Internal to store/.
//
// Column families and their records (all integers in keys are big-endian so
// that bytewise key order is numeric order):
//
//   default   "tailgate.format"       -> format version (marker: a RocksDB
//                                        without it is not a tailgate log)
//             "last_id"               -> fixed64 highest id ever assigned
//             "t/" topic              -> TopicMeta
//   events    topic '\0' BE64(id)     -> EventValue (type, data, publish time)
//   ids       BE64(id)                -> IdValue (topic, data size, publish time)
//   time      BE64(micros^sign) BE64(id) -> ""
//   dedup     topic '\0' key          -> DedupValue (id, first-seen micros)
//   dedup_time BE64(micros^sign) topic '\0' key -> ""
//
// Payloads live once, clustered by topic in `events`, so replaying one topic
// is a single sequential scan; `ids` is a thin id-ordered index used for
// oldest-first global retention and for scans across very many topics.
// Topics never contain '\0' (validated), so topic '\0' prefixes never overlap.
//
// Every value starts with a version byte so the format can evolve.
#ifndef TAILGATE_STORE_ROCKSDB_CODEC_H_
#define TAILGATE_STORE_ROCKSDB_CODEC_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace tailgate::store::internal {

inline constexpr std::string_view kFormatKey = "tailgate.format";
inline constexpr std::string_view kFormatValue = "tailgate-log/1";
inline constexpr std::string_view kLastIdKey = "last_id";
// The id before a new log's first (Log::IdsStartAfter); absent in logs
// created before it existed (= 0).
inline constexpr std::string_view kIdFloorKey = "id_floor";
inline constexpr std::string_view kTopicMetaPrefix = "t/";

void PutBigEndian64(std::string* out, uint64_t v);
uint64_t GetBigEndian64(const char* p);
void PutFixed64(std::string* out, uint64_t v);
uint64_t GetFixed64(const char* p);

// Maps signed micros onto uint64 preserving order.
inline uint64_t OrderedMicros(int64_t micros) {
  return static_cast<uint64_t>(micros) ^ (uint64_t{1} << 63);
}
inline int64_t MicrosFromOrdered(uint64_t v) {
  return static_cast<int64_t>(v ^ (uint64_t{1} << 63));
}

std::string IdKey(uint64_t id);
uint64_t IdFromIdKey(std::string_view key);  // key must be 8 bytes

// topic '\0' BE64(id)
std::string EventKey(std::string_view topic, uint64_t id);
// topic '\0': every event key of the topic starts with it.
std::string EventKeyPrefix(std::string_view topic);
// Smallest key above every key of the topic (topic '\1').
std::string EventKeyLimit(std::string_view topic);
// Splits an event key; false when malformed.
bool ParseEventKey(std::string_view key, std::string_view* topic, uint64_t* id);

std::string TimeKey(int64_t micros, uint64_t id);
bool ParseTimeKey(std::string_view key, int64_t* micros, uint64_t* id);

std::string DedupKey(std::string_view topic, std::string_view key);
std::string DedupTimeKey(int64_t micros, std::string_view dedup_key);
bool ParseDedupTimeKey(std::string_view key, int64_t* micros, std::string_view* dedup_key);

std::string TopicMetaKey(std::string_view topic);

// A file a checkpoint holds until it is first opened as a log (see
// RocksDbLog::ContinueIdsAfterRestore).
inline std::string RestoreMarkerPath(const std::string& data_dir) {
  return data_dir + "/TAILGATE_CHECKPOINT";
}

struct EventValue {
  int64_t publish_micros = 0;
  std::string_view type;
  std::string_view data;  // points into the encoded value
};
void EncodeEventValue(std::string* out, int64_t publish_micros, std::string_view type,
                      std::string_view data);
bool DecodeEventValue(std::string_view in, EventValue* v);

struct IdValue {
  std::string_view topic;  // points into the encoded value
  uint64_t data_bytes = 0;
  int64_t publish_micros = 0;
};
void EncodeIdValue(std::string* out, std::string_view topic, uint64_t data_bytes,
                   int64_t publish_micros);
bool DecodeIdValue(std::string_view in, IdValue* v);

struct DedupValue {
  uint64_t id = 0;
  int64_t seen_micros = 0;
};
std::string EncodeDedupValue(const DedupValue& v);
bool DecodeDedupValue(std::string_view in, DedupValue* v);

struct TopicMeta {
  uint64_t first_id = 0;         // first retained id, 0 when none
  uint64_t last_id = 0;          // last id ever appended
  uint64_t count = 0;            // retained events
  uint64_t bytes = 0;            // retained data bytes
  uint64_t trimmed_through = 0;  // highest id removed by retention/trim/delete
  bool deleted = false;          // DeleteTopic ran; kept only for trimmed_through
};
std::string EncodeTopicMeta(const TopicMeta& m);
bool DecodeTopicMeta(std::string_view in, TopicMeta* m);

}  // namespace tailgate::store::internal

#endif  // TAILGATE_STORE_ROCKSDB_CODEC_H_
