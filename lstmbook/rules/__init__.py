"""Static checks on a student's cell: the calls an exercise forbids, and code that needs review.

An exercise that asks students to write something themselves declares the library calls its
answer must not use (``torch.optim``, ``.backward``...). The trusted grader reads the student's
cell source, outside the sandbox, and asks two questions of it:

- ``forbidden_uses(source, forbidden, preamble)``: where does the cell use a declared name?
- ``needs_review(source)``: does the cell touch the grader's instruments or the interpreter's
  hooks (tracing, frames, dispatch modes, module hook dicts, IPython's hooks, ctypes, the heap,
  the runner's process), or look names up in a way no static check can follow?

Both are pure: source text in, ``Finding`` s out. Nothing is imported from the cell, nothing is
executed. IPython syntax (``%time``, ``%%timeit``, ``!ls``, ``obj?``) is turned into Python the way
IPython's ``TransformerManager`` does (a small fallback does the same when IPython is not
installed); the Python code that a magic runs (``%time expr``, a ``%%time`` body, ``exec`` of a
constant string) is checked too, reported at the magic's line.

How names are resolved (one resolver, shared by both checks):

- imports in every form: ``import torch``, ``import torch.nn as nn``, ``from torch import optim``,
  ``from torch.optim import SGD as S``; a name with a dot matches itself and everything under
  it, component by component (``torch.optim`` matches ``torch.optim.adam.Adam``, not
  ``torch.optimize``); an entry ``.backward`` matches any attribute named ``backward``;
- re-bindings: ``o = torch.optim``, ``C = nn.LSTM``, tuple unpacking of such, ``self.o = ...``,
  ``for m in (torch.optim.SGD, ...)``, ``(o := ...)``;
- lookups with constants: ``getattr(torch, "optim")``, ``importlib.import_module("torch.optim")``,
  ``__import__("torch.optim")``, ``sys.modules["torch.optim"]``, ``vars(torch)["optim"]``,
  ``torch.__dict__["optim"]``, ``globals()["torch"]``; a constant is also a string that the code
  spells out: an f-string or a sum of constants, a name bound only to such, a loop variable
  over a literal tuple (``for n in ("optim",): getattr(torch, n)``); a counter of ``range`` or
  ``enumerate`` stands for digits, so ``getattr(lstm, f"{name}_l{k}")`` over literal names is a
  known name, not a dynamic lookup;
- star imports: after ``from torch.nn import *`` a bare name bound nowhere else (``LSTM``)
  resolves to ``torch.nn.LSTM`` (a module's contents cannot be listed statically);
- the preamble (the cells that run before the student's: the chapter's given code) binds names
  too; findings are reported for the student's source only;
- a name bound nowhere (neither in the preamble nor in the cell) is taken to be what an earlier
  cell imported under that name when it is the first part of a declared entry or of the review
  table (``torch``, ``sys``, ``gc``...) or a notebook convention (``np``, ``nn``, ``F``, ``optim``,
  ``plt``), so that a missing preamble does not hide ``torch.optim.SGD``.

A use is any reference that reads the name: a call, an argument (``partial(torch.optim.SGD)``),
a decorator, a base class, a default value, an annotation, an f-string expression; in code
nested in functions, classes, lambdas and comprehensions alike. Strings and comments are not
code. Of a chain, only the longest name found is reported (``torch.optim.SGD``, not also
``torch.optim``). An import of a declared name is a use.

Known limits (what a static check cannot see):

- Aliases are flow-insensitive: a binding anywhere (in any function, before or after) counts
  everywhere. A name re-bound to something unrelated keeps its alias, and a parameter or local
  variable named like a module alias (``def f(nn): nn.LSTM``) is taken as the alias. Both err
  toward a finding.
- A name built at run time from anything the code does not spell out is not resolved:
  ``getattr(torch, input())``, a parameter (``def f(n): getattr(torch, n)``), a name re-bound
  to itself (``s = s + "im"``), ``__import__(name)``, ``eval``/``exec`` of a computed string,
  ``operator.attrgetter(name)``, ``globals()[name]``. ``needs_review`` flags every such lookup
  as "dynamic lookup", so the grader sends the cell to a person. A name built with a counter's
  digits can only be a declared name that has digits (``weight_ih_l0``, never ``optim``).
  A namespace reached through an alias (``ns = globals(); ns[k] = v``) is not followed.
- A declared dotted name is found where it is reached from a module, not through objects made
  at run time: ``type(model.lstm)``, ``opt.__class__``, ``param.grad_fn``. Methods on objects are
  declared as attribute entries (``.backward``), which match any attribute of that name.
- A star import cannot be listed: every bare name bound nowhere becomes a candidate under each
  star-imported module, except the builtins (``from torch import *; max(x)`` is taken as the
  builtin ``max``, while the star import itself is a use of a declared module).
- Code outside the cell is not read: files imported, ``%run`` scripts, shell escapes
  (``!python -c ...``, ``%%bash``), installed packages. ``needs_review`` flags shell escapes and the
  magics that run code from elsewhere ("shell escape"). What ``%%writefile`` writes is checked
  as the cell's own code when it is Python (chapter 7's DDP script), flagged when it is not.
  The line of ``%time``, ``%timeit``, ``%prun``, ``%debug`` is read as Python after leading
  options (``%timeit -n 10 expr``); other line magics (``%pip install``, ``obj?``) run no code
  of the cell.
- ``needs_review`` judges code, not intent: the course's own hidden tests (dispatch modes that
  count operations, ``getattr(m, _n)`` over names from another cell) would be flagged; it is
  meant for the student's cells. ``getattr``/``setattr`` with a constant name, ``model.eval()``,
  ``torch.compile``, ``re.compile`` and ``torch.backends.*`` settings are not flagged.
- A cell that does not parse (a student's syntax error) has no findings in ``forbidden_uses``:
  the kernel raises ``SyntaxError`` before running any of it. ``needs_review`` returns one
  "syntax error" finding with rule "unparsed" for it, and for code nested too deeply to analyse.
- Assigning to a declared name (``torch.optim.SGD = Mine``) is not a use of it;
  ``needs_review`` flags the assignment as "monkey patch".

The package, in the order a cell goes through it: ``tables`` (what is looked for: the reasons,
the names under review, the limits), ``cells`` (source to syntax trees), ``names`` (the
resolver), ``walk`` (from hits to findings), ``forbidden`` (``forbidden_uses``), ``review``
(``needs_review``) and ``notebook`` (a notebook's exercises: ``breaches``, ``review_flags``).
Each module imports only from the ones before it.
"""
from __future__ import annotations

from .forbidden import forbidden_uses
from .notebook import Breach, breaches, exercise_names, review_flags, uses
from .review import needs_review
from .tables import (INTERPRETER_HOOK, DISPATCH, MODULE_HOOKS, IPYTHON_HOOKS, CTYPES, HEAP_WALK, DYNAMIC,
                     FRAMES, BUILTINS, RUNNER, SHELL, PATCH, UNPARSED, REASONS, Finding)

__all__ = ["Breach", "Finding", "REASONS", "breaches", "exercise_names", "forbidden_uses",
           "needs_review", "review_flags", "uses"]
