// ThreadSanitizer settings, compiled into the tests that also run under
// --config=tsan: TSan asks the executable for them at start (elsewhere
// these functions are never called).
//
// The system libraries (gRPC, the Abseil and OpenSSL it uses, libstdc++)
// are Debian's, not built with ThreadSanitizer. gRPC hands connections,
// buffers and file descriptors between its threads with its own atomics,
// which TSan cannot see, so the memory and system calls those libraries
// touch through TSan's interceptors (memcpy, free, epoll_wait) look racy.
// ignore_noninstrumented_modules keeps TSan to accesses made from our own,
// instrumented code: races in Custos are still reported, races inside the
// system libraries are not looked for.
extern "C" const char* __tsan_default_options() {
  return "ignore_noninstrumented_modules=1";
}

extern "C" const char* __tsan_default_suppressions() {
  // Reports that the option above does not cover: a system call on a file
  // descriptor that gRPC's poller owns; Abseil's deadlock detector (fed by
  // gRPC's locks); and gRPC's own header code, compiled into our binaries
  // and so instrumented, finishing a call on the log's threads that gRPC's
  // completion queue (not instrumented) then hands to its threads, or
  // answering a request that did not parse (FinishOnlyReactor).
  return "race:grpc_event_engine::posix_engine::\n"
         "race:absl::debian3::synchronization_internal::\n"
         "race:grpc::internal::CallbackWithSuccessTag::Run\n"
         "race:ServerCallbackUnaryImpl::Finish\n"
         "race:ServerCallbackUnaryImpl::SendInitialMetadata\n"
         "race:grpc::ServerUnaryReactor::InternalBindCall\n"
         "race:ServerCallbackUnaryImpl::CallOnDone\n"
         "race:grpc::internal::FinishOnlyReactor\n";
}
