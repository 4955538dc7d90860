"""edit-json.py IN.json OUT.json PATH=VALUE...: sets each dotted PATH
(list indices as numbers, e.g. pipeline.components.1.ranks) to the JSON
VALUE and writes OUT.json (for editing plans dumped by flatc)."""
import json
import sys

doc = json.load(open(sys.argv[1]))
for edit in sys.argv[3:]:
    path, value = edit.split("=", 1)
    keys = path.split(".")
    node = doc
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = json.loads(value)
    else:
        node[last] = json.loads(value)
json.dump(doc, open(sys.argv[2], "w"))
