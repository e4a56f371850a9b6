"""The layout keeps the shape the design section of the README describes, and keeps it true:

- no source file of the proxy, its filters, config, CLI or the libraries under them is over
  600 lines, and no function in them over 80 lines (a small C++ scanner below; its own tests
  hold it to known cases);
- the core (proxy/, cli/) includes no filter's internals: only the filter API (filters/api/) and
  the registration table (filters/registry.h);
- a filter includes nothing from the core: its own folder, the filter API, the claim matchers
  (filters/claims/) and the libraries below (net/, jose/, config/);
- the libraries below include nothing above them.

Run: python3 tests/layout/layout_test.py (ctest runs it as layout).
"""

import os
import re
import sys
import unittest

ROOT = os.environ.get("CIAP_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CHECKED = ("cli", "proxy", "filters", "config", "net", "jose")
MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 80

# Which folders each layer may include from (its own folder is always allowed). A filter's own
# folder is filters/<name>/.
MAY_INCLUDE = {
    "cli": ("cli/", "proxy/", "filters/api/", "filters/registry.h", "net/", "jose/", "config/"),
    "proxy": ("proxy/", "filters/api/", "filters/registry.h", "net/", "jose/", "config/"),
    "filters/api": ("filters/api/", "net/", "jose/", "config/"),
    "filters/claims": ("filters/claims/", "config/"),
    "filter": ("filters/api/", "filters/claims/", "net/", "jose/", "config/"),
    "filters": ("filters/",),  # registry.cc: the table names every filter
    "net": ("net/", "config/"),
    "jose": ("jose/",),
    "config": ("config/",),
}


def sources():
    for top in CHECKED:
        for dirpath, _, files in os.walk(os.path.join(ROOT, top)):
            for name in sorted(files):
                if name.endswith((".cc", ".h")):
                    path = os.path.join(dirpath, name)
                    yield os.path.relpath(path, ROOT), path


def layer(rel):
    parts = rel.split("/")
    if parts[0] != "filters":
        return parts[0]
    if len(parts) == 2:
        return "filters"
    if parts[1] in ("api", "claims"):
        return "filters/" + parts[1]
    return "filter"


def strip_code(text):
    """The text with comments, string and character literals blanked (newlines kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "R" and text.startswith('R"', i) and (i == 0 or not text[i - 1].isalnum()):
            delim = text[i + 2:text.find("(", i)]
            j = text.find(")" + delim + '"', i)
            j = n if j < 0 else j + len(delim) + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c in "\"'":
            if c == "'" and i > 0 and text[i - 1].isalnum() and text[i + 1:i + 2].isdigit():
                out.append(c)  # a digit separator: 1'000
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + " " * (j - i - 1) + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    # Preprocessor lines (and their continuations) are not code: `#if defined(X)` is no call.
    return re.sub(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*",
                  lambda m: re.sub(r"[^\n]", " ", m.group(0)), "".join(out), flags=re.M)


SCOPE = re.compile(r"\b(namespace|class|struct|union|enum)\b")
CONTROL = re.compile(r"^\s*(if|for|while|switch|catch|do|else)\b")


def functions(text):
    """(name, first line, lines) of each function body at namespace or class scope."""
    code = strip_code(text)
    found, stack, head_start, line = [], [], 0, 1
    for i, c in enumerate(code):
        if c == "\n":
            line += 1
        elif c in ";":
            if not any(kind == "fn" for kind, _, _ in stack):
                head_start = i + 1
        elif c == "{":
            if any(kind in ("fn", "other") for kind, _, _ in stack):
                stack.append(("inner", line, ""))
                continue
            head = code[head_start:i]
            if "(" in head and not CONTROL.match(head) and not re.search(r"=\s*$", head):
                name = re.findall(r"([~\w:<>]+)\s*\(", head)
                stack.append(("fn", line, name[0] if name else "?"))
            elif SCOPE.search(head) and "(" not in head:
                stack.append(("scope", line, ""))
            else:
                stack.append(("other", line, ""))
            head_start = i + 1
        elif c == "}":
            if not stack:
                continue
            kind, start, name = stack.pop()
            if kind == "fn":
                found.append((name, start, line - start + 1))
            if not any(k in ("fn", "other") for k, _, _ in stack):
                head_start = i + 1
    return found


def includes(text):
    return re.findall(r'^\s*#\s*include\s+"([^"]+)"', text, re.M)


class ScannerTest(unittest.TestCase):
    """The scanner finds what a reader would call the functions, and only those."""

    def test_finds_functions_with_their_length(self):
        text = "\n".join([
            "namespace a {",
            "struct S {",
            "  int f() const {",
            "    if (x) { return 1; }",
            '    const char* s = "{";',
            "    return [] { return 2; }();",
            "  }",
            "};",
            "int g(int x) noexcept",
            "    : y(x) {",
            "  for (;;) {",
            "  }",
            "}",
            "int table[] = {1, 2};",
            "}  // namespace a {",
        ])
        self.assertEqual(functions(text), [("f", 3, 5), ("g", 10, 4)])

    def test_comments_and_raw_strings_hide_braces(self):
        text = 'void f() {\n  auto s = R"x(}})x"; /* { */\n  // }\n}\n'
        self.assertEqual(functions(text), [("f", 1, 4)])


class LayoutTest(unittest.TestCase):

    def test_no_file_over_the_limit(self):
        """No source file over 600 lines."""
        long_files = []
        for rel, path in sources():
            with open(path, encoding="utf-8") as f:
                count = sum(1 for _ in f)
            if count > MAX_FILE_LINES:
                long_files.append(f"{rel}: {count} lines")
        self.assertEqual(long_files, [], "split these files")

    def test_no_function_over_the_limit(self):
        """No function over 80 lines."""
        long_functions = []
        for rel, path in sources():
            with open(path, encoding="utf-8") as f:
                for name, start, count in functions(f.read()):
                    if count > MAX_FUNCTION_LINES:
                        long_functions.append(f"{rel}:{start}: {name}: {count} lines")
        self.assertEqual(long_functions, [], "split these functions")

    def test_includes_follow_the_layers(self):
        """The core sees filters only through their API; filters see nothing of the core."""
        wrong = []
        for rel, path in sources():
            allowed = MAY_INCLUDE[layer(rel)]
            own = os.path.dirname(rel) + "/"
            with open(path, encoding="utf-8") as f:
                for inc in includes(f.read()):
                    if inc.startswith(own) or inc.startswith(allowed):
                        continue
                    wrong.append(f"{rel} includes {inc}")
        self.assertEqual(wrong, [])


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1] + sys.argv[1:], verbosity=2)
