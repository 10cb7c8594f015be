// LeakSanitizer suppressions for every binary that links the system gRPC
// (used by --config=asan; a harmless unused symbol otherwise).
//
// c-ares, gRPC's DNS resolver, keeps one process-lifetime allocation that
// it never frees; it is not Custos's and not built with the sanitizers.
extern "C" const char* __lsan_default_suppressions() { return "leak:libcares.so\n"; }
