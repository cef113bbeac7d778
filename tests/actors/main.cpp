// The test runner of the actor suites (CAF's unit-test framework).
#define CAF_SUITE actor_tests
#include "caf/test/unit_test_impl.hpp"
