import os
import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "FRESCO"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.fresco_obj_root, "test", "lit")
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "Inputs"]
config.substitutions.append(("%models", os.path.join(config.fresco_src_root, "models")))
# The plan schema for flatc: plan.fbs includes the generated opcodes.fbs.
config.substitutions.append(("%planfbs", "-I " + os.path.join(config.fresco_obj_root, "runtime", "schema") + " " + os.path.join(config.fresco_src_root, "runtime", "schema", "plan.fbs")))

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.add_tool_substitutions(
    [ToolSubst(t, unresolved="ignore") for t in
     ["fresco-opt", "fresco-compile", "fresco-run", "fresco-inspect",
      "fresco-random-checkpoint"]],
    [config.fresco_tools_dir, config.llvm_tools_dir])

# Helpers for CLI tests.
inputs = os.path.join(config.test_source_root, "Inputs")
config.substitutions.append(("%expect-exit", os.path.join(inputs, "expect-exit.sh")))
config.substitutions.append(("%inputs", inputs))
# NumPy-only scripts run on Debian's python3 (python3-numpy is a dependency).
config.substitutions.append(("%python", "/usr/bin/python3"))
