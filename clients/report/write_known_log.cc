// write_known_log PATH: writes the report tests' known log to PATH and
// prints the verifier key of the key that signed its checkpoints.
#include <iostream>

#include "audit/note.h"
#include "clients/report/known_log.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: write_known_log PATH\n";
    return 2;
  }
  auto signer = custos::audit::NoteSigner::Generate("custos.test/report");
  if (!signer.ok()) {
    std::cerr << signer.status() << "\n";
    return 1;
  }
  auto written = custos::report::testing::WriteKnownLog(argv[1], *signer);
  if (!written.ok()) {
    std::cerr << written.status() << "\n";
    return 1;
  }
  std::cout << signer->verifier_key() << "\n";
  return 0;
}
