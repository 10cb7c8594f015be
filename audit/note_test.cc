#include "audit/note.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_replace.h"
#include "audit/checkpoint.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace custos::audit {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

TEST(NoteTest, SignsAndOpensACheckpoint) {
  auto signer = NoteSigner::Generate("custos.test/log");
  ASSERT_TRUE(signer.ok()) << signer.status();
  const std::string text =
      FormatCheckpointBody({"custos.test/log", 42, std::string(32, '\x07')});
  auto note = signer->Sign(text);
  ASSERT_TRUE(note.ok()) << note.status();
  EXPECT_THAT(*note,
              MatchesRegex("custos.test/log\n42\nBwcH[A-Za-z0-9+/=]+\n\n"
                           "\xE2\x80\x94 custos.test/log [A-Za-z0-9+/]+=*\n"));
  EXPECT_THAT(signer->verifier_key(),
              MatchesRegex("custos.test/log\\+[0-9a-f]{8}\\+[A-Za-z0-9+/]+=*"));

  auto verifier = NoteVerifier::FromVerifierKey(signer->verifier_key());
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  auto opened = verifier->Open(*note);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(*opened, text);
  auto body = ParseCheckpointBody(*opened);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(body->size, 42u);
  EXPECT_EQ(body->root_hash, std::string(32, '\x07'));
}

TEST(NoteTest, KeyIdFollowsSignedNoteDefinition) {
  auto signer = NoteSigner::Generate("example.com/log");
  ASSERT_TRUE(signer.ok());
  const std::string key = signer->verifier_key();
  const size_t first_plus = key.find('+');
  std::string decoded;
  ASSERT_TRUE(absl::Base64Unescape(key.substr(first_plus + 10), &decoded));
  ASSERT_EQ(decoded.size(), 33u);
  EXPECT_EQ(decoded[0], '\x01');
  EXPECT_EQ(
      absl::BytesToHexString(NoteKeyId("example.com/log", decoded.substr(1))),
      key.substr(key.find('+') + 1, 8));
}

TEST(NoteTest, RoundTripsThePrivateKey) {
  auto signer = NoteSigner::Generate("n");
  auto pem = signer->PrivateKeyPem();
  ASSERT_TRUE(pem.ok());
  auto again = NoteSigner::FromPrivateKeyPem("n", *pem);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->verifier_key(), signer->verifier_key());
}

TEST(NoteTest, RefusesChangedTextAndOtherKeys) {
  auto signer = *NoteSigner::Generate("log");
  auto other = *NoteSigner::Generate("log");
  const std::string note =
      *signer.Sign("log\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n");
  auto verifier = *NoteVerifier::FromVerifierKey(signer.verifier_key());

  const std::string changed = absl::StrReplaceAll(note, {{"\n5\n", "\n6\n"}});
  auto opened = verifier.Open(changed);
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(opened.status().message(), HasSubstr("does not verify"));

  auto other_verifier = *NoteVerifier::FromVerifierKey(other.verifier_key());
  EXPECT_EQ(other_verifier.Open(note).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(verifier.Open("log\n5\n").status().code(),
            absl::StatusCode::kInvalidArgument);
  // Found by fuzz/note_fuzzer: a note that ends in its blank line.
  for (const char* no_signature : {"log\n5\n\n", "\n\n", "x\n\n\n"}) {
    auto refused = verifier.Open(no_signature);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument)
        << no_signature;
  }
}

TEST(NoteTest, RejectsMalformedVerifierKeys) {
  for (const char* key :
       {"", "a+b", "a+zzzzzzzz+AQ==", "a b+00000000+AQ==",
        "log+00000000+AezNsZP8mTJwtbqzhTRBjO4nLhvxrvdkmHd8BY1zfdA="}) {
    EXPECT_EQ(NoteVerifier::FromVerifierKey(key).status().code(),
              absl::StatusCode::kInvalidArgument)
        << key;
  }
}

TEST(NoteTest, RefusesTextWithoutFinalNewline) {
  auto signer = *NoteSigner::Generate("log");
  EXPECT_EQ(signer.Sign("log\n1\nroot").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(signer.Sign("log\n\n").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CheckpointBodyTest, RejectsNonCanonicalFields) {
  const std::string root = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
  EXPECT_TRUE(ParseCheckpointBody("o\n0\n" + root + "\n").ok());
  EXPECT_TRUE(ParseCheckpointBody("o\n7\n" + root + "\next\n").ok());
  EXPECT_EQ(ParseCheckpointBody("o\n07\n" + root + "\n").status().message(),
            "checkpoint line 2: expected the tree size in decimal without "
            "leading zeros");
  EXPECT_EQ(ParseCheckpointBody("o\n-1\n" + root + "\n").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseCheckpointBody("o\n1\nAAAA\n").status().message(),
            "checkpoint line 3: expected the root hash as standard base64 of "
            "32 bytes");
  EXPECT_EQ(ParseCheckpointBody("\n1\n" + root + "\n").status().message(),
            "checkpoint line 1: empty origin");
  EXPECT_EQ(ParseCheckpointBody("o\n1\n" + root).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace custos::audit
