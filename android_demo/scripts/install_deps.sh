#!/usr/bin/env bash
# What the Android core's tests (tests/android_demo) need: a JDK (javac and java, 11 or newer),
# Debian's junit4 (/usr/share/java/junit4.jar, which brings hamcrest) and Debian's Gson, the
# core's JSON library (libgoogle-gson-java: /usr/share/java/gson.jar).
#   bash android_demo/scripts/install_deps.sh        (make android_deps; make test runs it)
# As root with apt-get, whatever is missing is installed. In CI (CI=true) anything that cannot
# be installed is an error; elsewhere a warning, and the core's tests skip with the reason.
set -uo pipefail
case "${CI:-}" in 1 | true | TRUE | True | yes) in_ci=1 ;; *) in_ci=0 ;; esac
junit="${JUNIT_JAR:-/usr/share/java/junit4.jar}"
gson="${GSON_JAR:-/usr/share/java/gson.jar}"

packages=()
if ! command -v javac >/dev/null || ! command -v java >/dev/null; then
  packages+=(default-jdk-headless)
fi
if [ ! -f "$junit" ]; then
  packages+=(junit4)
fi
if [ ! -f "$gson" ]; then
  packages+=(libgoogle-gson-java)
fi

if [ "${#packages[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "android_deps: apt-get install ${packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -qq && apt-get install -y -qq "${packages[@]}" >/dev/null; }; then
      echo "android_deps: apt-get install ${packages[*]} failed" >&2
      if [ "$in_ci" = 1 ]; then exit 1; fi
    fi
  else
    echo "android_deps: missing ${packages[*]} (as root: apt-get install ${packages[*]})" >&2
    if [ "$in_ci" = 1 ]; then exit 1; fi
  fi
fi

if command -v javac >/dev/null && [ -f "$junit" ] && [ -f "$gson" ]; then
  echo "android_deps: $(javac -version 2>&1), $junit, $gson"
elif [ "$in_ci" = 1 ]; then
  echo "android_deps: no javac, $junit or $gson: the Android core's JUnit tests cannot run (CI)" >&2
  exit 1
else
  echo "android_deps: the Android core's JUnit tests (tests/android_demo) will skip" >&2
fi
exit 0
