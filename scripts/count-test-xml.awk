#!/usr/bin/awk -f
# Counts the test cases of one JUnit-style test.xml (GoogleTest's, or the one
# Bazel writes for a test that crashed): prints "passed failed skipped".
# A case fails when it holds a <failure> or <error> element.
BEGIN { RS = "<testcase"; passed = 0; failed = 0; skipped = 0 }
NR > 1 {
  body = $0
  end = index(body, "</testcase>")
  if (end == 0) {
    close_tag = index(body, "/>")
    if (close_tag > 0) body = substr(body, 1, close_tag)
  } else {
    body = substr(body, 1, end)
  }
  if (body ~ /<failure|<error/) failed++
  else if (body ~ /result="skipped"|status="notrun"|<skipped/) skipped++
  else passed++
}
END { print passed, failed, skipped }
