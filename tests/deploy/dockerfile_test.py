#!/usr/bin/env python3
"""The Dockerfile's runtime stage installs every shared library the ciap binary links (no docker
daemon is available here to build the image, so this checks the part that breaks silently: a new
library dependency the image would lack), runs as a non-root user, and starts
`ciap run -c /etc/ciap/ciap.yaml`.

Usage: CIAP_BIN=PATH/TO/ciap python3 dockerfile_test.py   (needs ldd and dpkg: Debian)
"""

import json
import os
import re
import shutil
import subprocess
import unittest

SOURCE_DIR = os.environ.get("CIAP_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CIAP_BIN = os.environ.get("CIAP_BIN", "")
# In debian:12-slim already (Essential or required by apt).
BASE_IMAGE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6"}


def stages(text):
    """[(from line, [instructions])] with line continuations joined."""
    text = re.sub(r"\\\n", " ", text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            out.append((line, []))
        elif out:
            out[-1][1].append(line)
    return out


def apt_packages(instructions):
    packages = set()
    for ins in instructions:
        for m in re.finditer(r"apt-get install ([^&]*)", ins):
            packages |= {w for w in m.group(1).split() if not w.startswith("-")}
    return packages


class Dockerfile(unittest.TestCase):

    def setUp(self):
        with open(os.path.join(SOURCE_DIR, "Dockerfile"), encoding="utf-8") as f:
            self.text = f.read()
        self.stages = stages(self.text)

    def test_two_stages_on_debian_12_slim(self):
        self.assertEqual(len(self.stages), 2)
        self.assertIn("ARG DEBIAN_IMAGE=debian:12-slim", self.text)
        self.assertIn(" AS build", self.stages[0][0])
        build = " ".join(self.stages[0][1])
        self.assertIn("-DCIAP_BUILD_TESTS=OFF", build)
        self.assertIn("ninja -C /build ciap", build)

    def test_build_stage_copies_every_source_folder(self):
        """Each folder the root CMakeLists.txt adds (but tests/) is copied into the build."""
        with open(os.path.join(SOURCE_DIR, "CMakeLists.txt"), encoding="utf-8") as f:
            folders = set(re.findall(r"^add_subdirectory\((\w+)\)", f.read(), re.M)) - {"tests"}
        copied = {i.split()[1] for i in self.stages[0][1] if i.upper().startswith("COPY ")}
        self.assertTrue(folders)
        self.assertEqual(folders - copied, set())

    def test_runtime_stage_runs_ciap_as_non_root(self):
        runtime = self.stages[1][1]
        user = [i for i in runtime if i.upper().startswith("USER ")]
        self.assertEqual(len(user), 1)
        self.assertNotIn(user[0].split()[1].split(":")[0], ("root", "0"))
        self.assertIn('ENTRYPOINT ["ciap"]', runtime)
        self.assertIn('CMD ["run", "-c", "/etc/ciap/ciap.yaml"]', runtime)
        self.assertTrue(any(i.startswith("EXPOSE ") and "9901" in i for i in runtime))
        self.assertFalse(any("-dev" in p for p in apt_packages(runtime)), "a -dev package at runtime")

    def test_runtime_packages_cover_every_linked_library(self):
        if not CIAP_BIN or not shutil.which("ldd") or not shutil.which("dpkg"):
            raise unittest.SkipTest("needs CIAP_BIN, ldd and dpkg")
        runtime = apt_packages(self.stages[1][1])
        ldd = subprocess.run(["ldd", CIAP_BIN], capture_output=True, text=True, check=True).stdout
        needed = {}
        for path in re.findall(r"=> (/\S+)", ldd):
            owner = None
            for candidate in (path, os.path.realpath(path)):
                r = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
                if r.returncode == 0:
                    owner = r.stdout.split(":")[0]
                    break
            self.assertIsNotNone(owner, f"no Debian package owns {path}")
            needed[owner] = path
        missing = {p: f for p, f in needed.items() if p not in runtime | BASE_IMAGE_PACKAGES}
        self.assertEqual(missing, {}, "libraries the image would lack")
        unused = runtime - set(needed) - {"ca-certificates"}
        self.assertEqual(unused, set(), "runtime packages ciap does not link")
        print(f"    {len(needed)} linked packages: {json.dumps(sorted(needed))}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
