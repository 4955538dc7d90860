"""exit-codes.py CLI.md TMP COMPILE RUN RANDOM MODELS: checks docs/cli.md's
exit-code table against the tools (issue 15).

Every code in the table, and every kind of cause its rows list, has cases
below for each tool the table names; each case must exit with its row's
code, print what it is expected to, and (exit 1) name the file at fault.
The fresco-run examples listed under "Misuse exits 2" and "Everything else
exits 1" are reproduced too, each with the code of the block it is in. A
row or an example added to the docs without a case here fails the test."""
import os
import re
import subprocess
import sys

doc_path, tmp, compile_, run, random_, models = sys.argv[1:7]
doc = open(doc_path).read()
failures = []


def fail(msg):
    failures.append(msg)


# The table: "| code | meaning |" rows under "## Exit codes".
section = doc.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
table = {}
for line in section.splitlines():
    m = re.match(r"\|\s*(\d+)\s*\|\s*(.*?)\s*\|$", line)
    if m:
        table[int(m.group(1))] = m.group(2)
tools = re.findall(r"`(fresco-[a-z-]+)`", section.split("follow this")[0])
if sorted(table) != [0, 1, 2]:
    fail("the table's codes are %s; this test knows 0, 1 and 2" % sorted(table))
if sorted(tools) != ["fresco-compile", "fresco-random-checkpoint", "fresco-run"]:
    fail("the tools said to follow the table are %s" % tools)


def causes(meaning):
    """The causes a row lists: 'error: a, b or c; ...' -> [a, b, c];
    'success (also `x`, `y`)' -> [success, x, y]."""
    meaning = meaning.replace("`", "")
    head = meaning.split(";")[0]
    if ":" in head:
        head = head.split(":", 1)[1]
    extra = re.search(r"\((?:also )?([^)]*)\)", head)
    base = re.sub(r"\(.*?\)", "", head)
    items = re.split(r",\s*|\s+or\s+", base)
    if extra:
        items += re.split(r",\s*", extra.group(1))
    return [i.strip() for i in items if i.strip()]


os.makedirs(tmp, exist_ok=True)
T = lambda name: os.path.join(tmp, name)
dit = os.path.join(models, "dit", "configs", "dit-tiny.json")
pipe_template = os.path.join(models, "dit", "pipelines", "dit-tiny")
with open(T("bad.json"), "w") as f:
    f.write('{"_class_name": "NoSuchModel"}')
with open(T("not-a-plan.fplan"), "wb") as f:
    f.write(b"\0" * 64)
with open(T("bad.npy"), "wb") as f:
    f.write(b"\x93NUMPY garbage")


def sh(argv):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return p.returncode, p.stdout.decode(errors="replace")


# A small pipeline and its plan for fresco-run's cases.
for argv in ([random_, pipe_template, "-o", T("pipe")],
             [compile_, T("pipe"), "-o", T("pipe.fplan"), "--quiet"],
             [compile_, dit, "-o", T("dit.fplan"), "--quiet"]):
    code, out = sh(argv)
    if code != 0:
        sys.exit("setup failed: %s\n%s" % (" ".join(argv), out))

plan, weights = T("pipe.fplan"), T("pipe")
gen = [run, plan, "--weights", weights, "--class-label", "3", "--steps", "1"]

NOT_READ = {("fresco-compile", "checkpoint"), ("fresco-compile", ".npy"),
            ("fresco-random-checkpoint", "plan"),
            ("fresco-random-checkpoint", "checkpoint"),
            ("fresco-random-checkpoint", ".npy"), ("fresco-run", "model")}

# (tool, cause in the table, code, argv, text the output must hold, file it
# must name or None).
CASES = [
    ("fresco-compile", "success", 0, [compile_, dit, "-o", T("a.fplan")], "wrote", None),
    ("fresco-compile", "--help", 0, [compile_, "--help"], "USAGE", None),
    ("fresco-compile", "--version", 0, [compile_, "--version"], "plan format version", None),
    ("fresco-compile", "bad input file", 1, [compile_, T("missing.json"), "-o", T("x.fplan")], "cannot read", T("missing.json")),
    ("fresco-compile", "plan", 1, [compile_, T("not-a-plan.fplan"), "-o", T("x.fplan")], "error:", T("not-a-plan.fplan")),
    ("fresco-compile", "model", 1, [compile_, T("bad.json"), "-o", T("x.fplan")], "not supported", T("bad.json")),
    ("fresco-compile", "unknown flag", 2, [compile_, "--bogus-flag"], "Unknown command line argument", None),
    ("fresco-compile", "missing argument", 2, [compile_, dit], "-o option", None),
    ("fresco-compile", "bad flag value", 2, [compile_, dit, "-o", T("x.fplan"), "--batch", "0"], "--batch must be at least 1", None),
    ("fresco-run", "success", 0, gen + ["-o", T("a.png"), "--quiet"], "", None),
    ("fresco-run", "--help", 0, [run, "--help"], "USAGE", None),
    ("fresco-run", "--version", 0, [run, "--version"], "plan format version", None),
    ("fresco-run", "bad input file", 1, [run, T("missing.fplan"), "--weights", weights, "--function", "f"], "error:", T("missing.fplan")),
    ("fresco-run", "plan", 1, [run, T("not-a-plan.fplan"), "--weights", weights, "--function", "f"], "not a Fresco plan", T("not-a-plan.fplan")),
    ("fresco-run", "checkpoint", 1, gen[:3] + [T("missing-weights")] + gen[4:] + ["-o", T("b.png")], "does not exist", T("missing-weights")),
    ("fresco-run", ".npy", 1, gen + ["-o", T("c.png"), "--latents", "@" + T("bad.npy")], "error:", T("bad.npy")),
    ("fresco-run", "unknown flag", 2, [run, plan, "--bogus"], "unknown option '--bogus'", None),
    ("fresco-run", "missing argument", 2, [run, plan, "--weights"], "--weights needs a value", None),
    ("fresco-run", "bad flag value", 2, gen + ["-o", T("d.png"), "--seed", "-1"], "--seed must be non-negative", None),
    ("fresco-random-checkpoint", "success", 0, [random_, dit, "-o", T("ckpt")], "", None),
    ("fresco-random-checkpoint", "--help", 0, [random_, "--help"], "USAGE", None),
    ("fresco-random-checkpoint", "--version", 0, [random_, "--version"], "version", None),
    ("fresco-random-checkpoint", "bad input file", 1, [random_, T("missing.json"), "-o", T("r")], "cannot read", T("missing.json")),
    ("fresco-random-checkpoint", "model", 1, [random_, T("bad.json"), "-o", T("r")], "not supported", T("bad.json")),
    ("fresco-random-checkpoint", "unknown flag", 2, [random_, "--bogus"], "Unknown command line argument", None),
    ("fresco-random-checkpoint", "missing argument", 2, [random_, dit], "-o option", None),
    ("fresco-random-checkpoint", "bad flag value", 2, [random_, dit, "-o", T("r"), "--dtype", "f64"], "--dtype must be", None),
]

# Each tool has a case for every code, and for each row's causes but those
# it reads no such input for (fresco-compile and fresco-random-checkpoint
# read no checkpoint or .npy; fresco-run reads no model config).
for code, meaning in sorted(table.items()):
    for cause in causes(meaning):
        for tool in tools:
            if (tool, cause) in NOT_READ:
                continue
            if not any(c[0] == tool and c[1] == cause and c[2] == code for c in CASES):
                fail("no case for %s exiting %d on '%s'" % (tool, code, cause))
for tool, cause, code, argv, text, names in CASES:
    if code not in table or cause not in causes(table[code]):
        fail("case '%s' of %s is not in the table's row %d" % (cause, tool, code))
    got, out = sh(argv)
    what = "%s (%s): %s" % (tool, cause, " ".join(argv[1:]))
    if got != code:
        fail("%s exited %d, the table says %d\n%s" % (what, got, code, out))
    if text not in out:
        fail("%s: expected '%s' in\n%s" % (what, text, out))
    if names and names not in out:
        fail("%s: the message does not name %s\n%s" % (what, names, out))

# fresco-run's listed examples: the line the docs show, the code of their
# block. Keys are the doc line after "fresco-run: " (paths as printed).
RUN_EXAMPLES = {
    "say where the image goes: -o out.png (or --output-latents)":
        [run, plan, "--weights", weights, "--class-label", "3"],
    "--class-label or --prompt is required to generate images":
        [run, plan, "--weights", weights, "-o", T("e.png")],
    "--class-label expects an integer, got 'x'":
        [run, plan, "--weights", weights, "--class-label", "x", "-o", T("e.png")],
    "--seed must be non-negative": gen + ["-o", T("e.png"), "--seed", "-1"],
    "--latents expects @FILE.npy, got 'x0.npy'": gen + ["-o", T("e.png"), "--latents", "x0.npy"],
    "this plan holds a pipeline: generate images with --class-label L -o out.png, or run one of its functions with --function":
        [run, plan, "--weights", weights],
    "error: class label 1000 is out of range: this model has 1000 classes (0..999)":
        [run, plan, "--weights", weights, "--class-label", "1000", "-o", T("e.png")],
    "--steps must be in 1..10000, got 0":
        [run, plan, "--weights", weights, "--class-label", "3", "--steps", "0", "-o", T("e.png")],
    "error: cannot write output /tmp/no/such/dir/x.png (is the folder there and writable?)":
        gen + ["-o", "/tmp/no/such/dir/x.png"],
}
run_section = doc.split("### Generation mode", 1)[1].split("### Function mode", 1)[0]
blocks = {2: run_section.split("Misuse exits 2:", 1)[1].split("```")[1],
          1: run_section.split("Everything else exits 1:", 1)[1].split("```")[1]}
for line, argv in RUN_EXAMPLES.items():
    doc_line = "fresco-run: " + line
    code = next((c for c, b in blocks.items() if doc_line in b.splitlines()), None)
    if code is None:
        fail("docs/cli.md no longer lists '%s'" % doc_line)
        continue
    got, out = sh(argv)
    if got != code or doc_line not in out:
        fail("'%s' is listed under exit %d; the tool exited %d with\n%s"
             % (doc_line, code, got, out))

if failures:
    print("\n\n".join(failures))
    sys.exit(1)
print("exit codes: %d cases and %d documented examples agree with docs/cli.md"
      % (len(CASES), len(RUN_EXAMPLES)))
