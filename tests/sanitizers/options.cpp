// The sanitizers' defaults for the test executables of a sanitizer build
// (TROUPE_SANITIZE): linked into each, so a test fails on a finding however
// it is run (ctest, by hand, under gdb). ASAN_OPTIONS, UBSAN_OPTIONS and
// TSAN_OPTIONS still add to them or override them.
//
// UBSan: the null check is recoverable (CMakeLists.txt says why), so it is
// told to halt on any finding its suppressions let through; the others do
// not recover anyway. TSan reports every race and exits 66 at the end.

#ifndef TROUPE_SANITIZERS_DIR
#error "TROUPE_SANITIZERS_DIR: the folder of the suppression files"
#endif

extern "C" {

const char* __ubsan_default_options() {
  return "halt_on_error=1:print_stacktrace=1:suppressions=" TROUPE_SANITIZERS_DIR "/ubsan.supp";
}

const char* __tsan_default_options() {
  return "second_deadlock_stack=1:history_size=4:suppressions=" TROUPE_SANITIZERS_DIR "/tsan.supp";
}

} // extern "C"
