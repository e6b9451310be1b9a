"""What the checks look for: the ``Finding`` they report, the reasons a cell needs review, the
names and attributes under review, the magics, and the limits of the analysis."""
from __future__ import annotations

import builtins
from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    """One use found in a cell: what was used, where, and the rule it falls under.

    name: the dotted name or construct found (``torch.optim.SGD``, ``getattr(<built string>)``)
    line: 1-based line in the checked source
    text: that source line, stripped, at most 120 characters
    rule: the declared entry that matched (forbidden uses) or the reason (review flags)"""

    name: str
    line: int
    text: str
    rule: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.name} ({self.rule}): {self.text}"


# The reasons of needs_review, one per kind of reach into what the cell must leave alone.
INTERPRETER_HOOK = "interpreter hook"  # tracing, profiling, audit, import and display hooks
DISPATCH = "dispatch-mode stack"  # torch dispatch/function modes, overrides, op libraries
MODULE_HOOKS = "module hook dicts"  # nn.Module's hook dicts and the global module hooks
IPYTHON_HOOKS = "IPython hooks"  # the shell's events, transformers, display and magics
CTYPES = "ctypes"
HEAP_WALK = "heap walk"  # gc's views of every live object
DYNAMIC = "dynamic lookup"  # a name built at run time, eval/exec, namespace writes
FRAMES = "frame inspection"  # frames and what functions carry of their module
BUILTINS = "builtins"  # the builtins module replaced or written to
RUNNER = "runner process"  # signals to, or the id of, the process that runs the kernel
SHELL = "shell escape"  # code run outside the cell: shell commands, %run, %%writefile
PATCH = "monkey patch"  # an imported module's attribute replaced
UNPARSED = "unparsed"  # the cell does not parse (or nests too deep to analyse)

REASONS = (INTERPRETER_HOOK, DISPATCH, MODULE_HOOKS, IPYTHON_HOOKS, CTYPES, HEAP_WALK, DYNAMIC,
           FRAMES, BUILTINS, RUNNER, SHELL, PATCH, UNPARSED)

# Dotted names whose use (or use of anything under them) needs review.
_REVIEW_NAMES = {
    **dict.fromkeys([
        "sys.settrace", "sys.setprofile", "sys.addaudithook", "sys.monitoring", "sys.modules",
        "sys.meta_path", "sys.path_hooks", "sys.path_importer_cache", "sys.displayhook",
        "sys.excepthook", "sys.breakpointhook", "sys.unraisablehook", "threading.settrace",
        "threading.setprofile", "threading.settrace_all_threads",
        "threading.setprofile_all_threads", "builtins.breakpoint", "pdb", "bdb", "cProfile",
        "_lsprof",
    ], INTERPRETER_HOOK),
    **dict.fromkeys([
        "sys._getframe", "sys._current_frames", "sys._current_exceptions",
        "sys._getframemodulename", "inspect.currentframe", "inspect.stack",
        "inspect.getouterframes", "inspect.getinnerframes", "inspect.trace",
        "traceback.walk_stack", "traceback.walk_tb",
    ], FRAMES),
    **dict.fromkeys(["gc.get_objects", "gc.get_referrers", "gc.get_referents"], HEAP_WALK),
    **dict.fromkeys(["ctypes", "_ctypes", "cffi", "numpy.ctypeslib"], CTYPES),
    **dict.fromkeys(["torch.utils._python_dispatch", "torch.overrides", "torch.library"],
                    DISPATCH),
    **dict.fromkeys(["IPython.core", "ipykernel"], IPYTHON_HOOKS),
    **dict.fromkeys(["os.kill", "os.killpg", "os.getppid", "signal.pthread_kill",
                     "signal.signal", "os.setsid", "os.setpgrp", "os.setpgid", "psutil"],
                    RUNNER),
    **dict.fromkeys(["builtins.eval", "builtins.exec", "builtins.compile"], DYNAMIC),
    "builtins.__dict__": BUILTINS,
}
_REVIEW_EXEMPT = ("IPython.core.getipython", "IPython.core.display")

# Attribute names that need review whatever they are read from.
_REVIEW_ATTRIBUTES = {
    **dict.fromkeys(["f_back", "f_locals", "f_globals", "f_builtins", "f_code", "tb_frame",
                     "gi_frame", "cr_frame", "ag_frame", "__globals__", "__code__",
                     "__closure__"], FRAMES),
    **dict.fromkeys(["__class__", "__subclasses__", "__getattribute__"], DYNAMIC),
    **dict.fromkeys([
        "_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
        "_state_dict_hooks", "_state_dict_pre_hooks", "_load_state_dict_pre_hooks",
        "_load_state_dict_post_hooks", "_forward_hooks_with_kwargs",
        "_forward_pre_hooks_with_kwargs", "_forward_hooks_always_called",
        "register_module_forward_hook", "register_module_forward_pre_hook",
        "register_module_full_backward_hook", "register_module_full_backward_pre_hook",
        "register_module_backward_hook", "register_module_buffer_registration_hook",
        "register_module_module_registration_hook",
        "register_module_parameter_registration_hook",
    ], MODULE_HOOKS),
    **dict.fromkeys([
        "TorchDispatchMode", "TorchFunctionMode", "_push_on_torch_dispatch_stack",
        "_pop_torch_dispatch_stack", "_get_dispatch_mode", "_get_current_dispatch_mode",
        "_get_current_dispatch_mode_stack", "_push_on_torch_function_stack",
        "_pop_torch_function_stack", "__torch_dispatch__", "__torch_function__",
    ], DISPATCH),
}
_DISPATCH_DEFS = {"__torch_dispatch__", "__torch_function__"}

# get_ipython()'s attributes that IPython's own syntax uses; the rest are the shell's hooks.
_MAGIC_RUNNERS = {"run_line_magic", "run_cell_magic"}
_SHELL_ATTRIBUTES = {"system", "getoutput", "system_raw", "system_piped"}
_SHELL_MAGICS = {"run", "load", "loadpy", "bash", "sh", "script", "python", "python2", "python3",
                 "pypy", "perl", "ruby", "sx", "system", "sc"}
_FILE_MAGICS = {"writefile", "file"}  # fine when what they write is Python: it is checked here
_IPYTHON_MAGICS = {"load_ext", "reload_ext", "config"}
# magics whose line is Python that runs (%timeit's options first); a cell magic's body is
# checked whatever the magic, when it parses
_CODE_MAGICS = {"time", "timeit", "prun", "debug"}
# assignments to these (configuration, not behaviour) are no monkey patch
_SETTINGS = ("torch.backends", "torch._dynamo.config", "torch._inductor.config",
             "torch._functorch.config", "pandas.options", "matplotlib.rcParams")

_GET_IPYTHON = {"IPython.get_ipython", "IPython.core.getipython.get_ipython"}
_IMPORTERS = {"importlib.import_module", "builtins.__import__", "importlib.__import__"}
_NAMESPACES = {"builtins.globals": "globals", "builtins.locals": "locals",
               "builtins.vars": "vars"}
_NAMESPACE_WRITES = {"update", "__setitem__", "__delitem__", "setdefault", "pop", "popitem",
                     "clear"}
# A name bound nowhere: what a notebook's earlier cell conventionally bound it to.
_CONVENTIONS = {"np": "numpy", "nn": "torch.nn", "F": "torch.nn.functional",
                "optim": "torch.optim", "plt": "matplotlib.pyplot"}
_BUILTIN_NAMES = frozenset(dir(builtins))
# magics that IPython runs for a one-line cell without its % (automagic)
_AUTOMAGICS = frozenset(
    "time timeit prun run load pip conda matplotlib env cd ls pwd who whos reset debug config "
    "load_ext reload_ext autoreload history xmode precision pdb store alias pinfo pinfo2 psource "
    "pdoc pdef pfile capture sx system cat cp mv rm mkdir rmdir less more man clear".split())

_MAX_PARTS = 16  # longest dotted name followed
_MAX_CANDIDATES = 32  # most names one alias stands for
_MAX_ROUNDS = 10  # alias chains resolved to this depth
_MAX_NESTING = 4  # code in magics in exec strings in ...
_MAX_STRINGS = 256  # most strings one name is followed for
_MAX_STRING_DEPTH = 12  # names bound to names bound to ...

#: Iterators of (name, member) pairs whose names are parameters', buffers' or submodules'.
_NAMED_ITERATORS = {"named_parameters", "named_buffers", "named_modules", "named_children"}
#: In :meth:`_Names.strings`, stands for such a member's name.
MEMBER = "\1"
