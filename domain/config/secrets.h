// Secrets of configuration layer documents (seed 004 part 4): which values
// are secrets, their sealed form in events, and how reads present them.
// Pure: no I/O, no crypto; the sealing itself is a port (SecretSealer),
// implemented with OpenSSL in adapters/crypto/.
//
// Secret values (derived from the seed's notification_config schema), in a
// layer document's top-level `notification_config` (and in the value of a
// global key named `notification_config`):
//   webhook.secret, webhook.auth.token, webhook.auth.password, webhook.auth.api_key
//   webhook.endpoints[i].secret, .auth.token, .auth.password, .auth.api_key
// Only string values are secrets; anything else is left to the schema.
//
// The sealed form, which is all an event (store, Kafka, exports, hash
// chain) ever holds in place of a secret string:
//   {"$sealed": {"key_id": "<tenant data key id>", "alg": "AES-256-GCM",
//                "nonce": "<hex, 12 bytes>", "ciphertext": "<hex>", "tag": "<hex, 16 bytes>"}}
// The ciphertext is bound (GCM additional data) to the tenant and key id, so
// a sealed value copied into another tenant's document does not open.
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "domain/config/layers.h"
#include "domain/config/precedence.h"
#include "domain/error.h"

namespace ledger::domain::config {

inline constexpr const char* kSealedAlg = "AES-256-GCM";
inline constexpr const char* kMasked = "***";
inline constexpr const char* kShredded = "<shredded>";

struct SealedSecret {
  std::string key_id;
  std::string alg = kSealedAlg;
  std::string nonce;       // hex
  std::string ciphertext;  // hex
  std::string tag;         // hex
  friend bool operator==(const SealedSecret&, const SealedSecret&) = default;
};

// The port. seal: under the tenant's current data key (created on first
// use). unseal errors: kFailedPrecondition `secret_shredded` when the data
// key is gone (crypto-shredded), kFailedPrecondition `secret_unsealable` when the
// value was tampered with or sealed under another key/tenant, kUnavailable
// when the key store cannot be reached. shred: deletes the tenant's data
// key(s); returns the key ids deleted (empty: there was none).
class SecretSealer {
 public:
  virtual ~SecretSealer() = default;
  virtual Result<SealedSecret> seal(const std::string& tenant, const std::string& plaintext) = 0;
  virtual Result<std::string> unseal(const std::string& tenant, const SealedSecret& sealed) = 0;
  virtual Result<std::vector<std::string>> shred(const std::string& tenant) = 0;
  // The digest the idempotency record keeps for a request that carried
  // secrets, in place of its plain SHA-256 (commands/idempotency.h): an
  // HMAC-SHA256 under a key only the sealer holds, hex. Equal requests
  // still digest equal (a retry is recognised), but the stored value cannot
  // confirm a guessed secret offline.
  virtual std::string keyed_digest(std::string_view data) const = 0;
};

Json sealed_json(const SealedSecret& s);
// nullopt unless `j` is exactly the sealed form above.
std::optional<SealedSecret> parse_sealed(const Json& j);

// Calls f(pointer, value) for every secret value present in `doc` (a layer
// document; for the global key `notification_config`, pass its ref so the
// value itself is read as a notification_config). `pointer` is the JSON
// pointer of the value within `doc`.
void for_each_secret(Json& doc, const LayerRef& ref, const std::function<void(const std::string&, Json&)>& f);
void for_each_secret(const Json& doc, const LayerRef& ref,
                     const std::function<void(const std::string&, const Json&)>& f);

// `doc` with every plaintext secret string sealed under ref.tenant. A value
// already in sealed form is kept as it is; the masked "***" for a path whose
// `current` value is sealed keeps that sealed value (a client may PUT back
// what it read). Errors of the sealer come back as they are.
Result<Json> seal_document(Json doc, const Json& current, const LayerRef& ref, SecretSealer& sealer);

// `doc` with every sealed secret replaced by show(sealed) (e.g. "***", or
// the plaintext for a caller allowed secrets:read).
Json present_secrets(Json doc, const LayerRef& ref, const std::function<Json(const SealedSecret&)>& show);

// True when some secret of `doc` is still plaintext (never in an event).
bool has_plaintext_secret(const Json& doc, const LayerRef& ref);

// What a transport that keeps records in clear (a Kafka topic) may not
// carry. carries_secret_text: some secret of `doc` is a string other than
// the mask "***" (a plaintext that would have to travel in clear to be
// sealed). may_carry_secret: a screen for bytes that could not be decoded:
// true when they name a secret's field (secret, token, password, api_key,
// apikey; any case) or hold a JSON \u escape that could spell one.
bool carries_secret_text(const Json& doc, const LayerRef& ref);
bool may_carry_secret(std::string_view bytes);

}  // namespace ledger::domain::config
