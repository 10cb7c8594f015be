#include "common/openssl.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace custos {

absl::Status OpenSslError(absl::string_view context, absl::StatusCode code) {
  std::string message(context);
  unsigned long err;
  while ((err = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    absl::StrAppend(&message, ": ", buf);
  }
  return absl::Status(code, message);
}

absl::Status RandomBytes(void* out, size_t size) {
  constexpr size_t kPoolSize = 4096;
  unsigned char* const bytes = static_cast<unsigned char*>(out);
  if (size == 0) return absl::OkStatus();
  if (size > kPoolSize) {
    return RAND_bytes(bytes, static_cast<int>(size)) == 1
               ? absl::OkStatus()
               : OpenSslError("drawing random bytes",
                              absl::StatusCode::kUnavailable);
  }
  thread_local unsigned char pool[kPoolSize];
  thread_local size_t used = kPoolSize;
  if (kPoolSize - used < size) {
    if (RAND_bytes(pool, kPoolSize) != 1) {
      used = kPoolSize;
      return OpenSslError("drawing random bytes",
                          absl::StatusCode::kUnavailable);
    }
    used = 0;
  }
  std::memcpy(bytes, pool + used, size);
  OPENSSL_cleanse(pool + used, size);
  used += size;
  return absl::OkStatus();
}

void Sha256ConcatTo(std::initializer_list<absl::string_view> parts, char* out) {
  // A digest fetched once and a context per thread: OpenSSL 3's one-shot
  // SHA256() fetches and allocates on every call, which doubles the cost of
  // hashing a few hundred bytes.
  static const EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  thread_local const EvpMdCtxPtr owner(EVP_MD_CTX_new());
  EVP_MD_CTX* const ctx = owner.get();
  EVP_DigestInit_ex(ctx, kSha256, nullptr);
  for (absl::string_view part : parts) {
    EVP_DigestUpdate(ctx, part.data(), part.size());
  }
  EVP_DigestFinal_ex(ctx, reinterpret_cast<unsigned char*>(out), nullptr);
}

std::string Sha256Concat(std::initializer_list<absl::string_view> parts) {
  std::string out(SHA256_DIGEST_LENGTH, '\0');
  Sha256ConcatTo(parts, out.data());
  return out;
}

std::string Sha256(absl::string_view data) { return Sha256Concat({data}); }

std::string HexEncode(absl::string_view bytes) {
  return absl::BytesToHexString(bytes);
}

}  // namespace custos
