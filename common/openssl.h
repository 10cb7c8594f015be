// RAII owners for the OpenSSL objects Custos uses, and one place that turns
// OpenSSL's thread-local error queue into an absl::Status.
//
// Thread-safety: the owners are as thread-safe as the objects they own;
// OpenSslError reads and clears the calling thread's error queue only.
#ifndef CUSTOS_COMMON_OPENSSL_H_
#define CUSTOS_COMMON_OPENSSL_H_

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <initializer_list>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace custos {

template <typename T, void (*Free)(T*)>
struct OpenSslDeleter {
  void operator()(T* p) const { Free(p); }
};

namespace internal {
inline void FreeBio(BIO* bio) { BIO_free_all(bio); }
}  // namespace internal

using EvpPkeyPtr =
    std::unique_ptr<EVP_PKEY, OpenSslDeleter<EVP_PKEY, EVP_PKEY_free>>;
using EvpPkeyCtxPtr =
    std::unique_ptr<EVP_PKEY_CTX,
                    OpenSslDeleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using EvpMdCtxPtr =
    std::unique_ptr<EVP_MD_CTX, OpenSslDeleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using X509Ptr = std::unique_ptr<X509, OpenSslDeleter<X509, X509_free>>;
using X509NamePtr =
    std::unique_ptr<X509_NAME, OpenSslDeleter<X509_NAME, X509_NAME_free>>;
using X509StorePtr =
    std::unique_ptr<X509_STORE, OpenSslDeleter<X509_STORE, X509_STORE_free>>;
using X509StoreCtxPtr =
    std::unique_ptr<X509_STORE_CTX,
                    OpenSslDeleter<X509_STORE_CTX, X509_STORE_CTX_free>>;
using BioPtr = std::unique_ptr<BIO, OpenSslDeleter<BIO, internal::FreeBio>>;

// Returns a status with `code` whose message is `context` followed by every
// error on this thread's OpenSSL error queue, and clears the queue.
absl::Status OpenSslError(absl::string_view context,
                          absl::StatusCode code = absl::StatusCode::kInternal);

// SHA-256 of `data`, as 32 raw bytes.
std::string Sha256(absl::string_view data);
// SHA-256 of the concatenation of `parts`, without building it.
std::string Sha256Concat(std::initializer_list<absl::string_view> parts);
// As Sha256Concat, writing the 32 bytes to `out`: for loops that hash
// millions of values into one buffer.
void Sha256ConcatTo(std::initializer_list<absl::string_view> parts, char* out);

// Fills `out` with `size` bytes from OpenSSL's generator, cut from a pool
// per thread that is drawn 4 KiB at a time: in OpenSSL 3.0 a RAND_bytes
// call costs about 3 µs whatever its size, more than the rest of making an
// id, a token or a salt. Bytes handed out are wiped from the pool, so no
// copy of a token or salt stays behind in it. Requests larger than the pool
// go to the generator directly. UNAVAILABLE when the generator fails.
absl::Status RandomBytes(void* out, size_t size);

// Lowercase hex of raw bytes.
std::string HexEncode(absl::string_view bytes);

}  // namespace custos

#endif  // CUSTOS_COMMON_OPENSSL_H_
