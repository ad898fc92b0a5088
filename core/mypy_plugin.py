"""A mypy plugin that checks every ``@hookimpl`` against the typed hookspecs.

pluggy itself checks only argument *names*, at run time. With this plugin in mypy's config
(``plugins = ["jarvis.core.mypy_plugin"]``), mypy reports a hook implementation that

- implements a hook that does not exist (a misspelt name),
- takes an argument the hook does not pass,
- leaves an argument unannotated (its body would go unchecked),
- annotates an argument with a type the hook does not pass (e.g. ``register: Callable[[int], str]``
  where the hook passes ``Callable[[Tool], str]``), or returns something other than None (or an
  awaitable of None for an async implementation).
"""

from __future__ import annotations

from collections.abc import Callable

from mypy.nodes import ARG_POS, Decorator, FuncDef, MypyFile
from mypy.plugin import MethodContext, Plugin
from mypy.subtypes import is_subtype
from mypy.types import AnyType, CallableType, Type, TypeOfAny, get_proper_type

SPEC_MODULE = "jarvis.core.hookspecs"
MARKER = ".HookimplMarker.__call__"  # pluggy moved it between modules (_hooks, _decorators)


class HookImplChecker(Plugin):
    """Checks functions decorated with a pluggy ``HookimplMarker`` against ``jarvis.core.hookspecs``."""

    def get_method_hook(self, fullname: str) -> Callable[[MethodContext], Type] | None:
        """Hook the marker's ``__call__``: that is what ``@hookimpl`` runs."""
        return check_hookimpl if fullname.startswith("pluggy.") and fullname.endswith(MARKER) else None

    def get_additional_deps(self, file: MypyFile) -> list[tuple[int, str, int]]:
        """Make the hookspecs known to every module that imports Jarvis (and only those)."""
        if file.fullname.startswith("jarvis.core"):
            return []
        uses_jarvis = any(getattr(node, "id", "").startswith("jarvis") for node in file.imports)
        return [(10, SPEC_MODULE, -1)] if uses_jarvis else []


def _spec(ctx: MethodContext, name: str) -> CallableType | None:
    module = ctx.api.modules.get(SPEC_MODULE)  # type: ignore[attr-defined]
    if module is None or name not in module.names:
        return None
    node = module.names[name].node
    func = node.func if isinstance(node, Decorator) else node
    spec_type = get_proper_type(func.type) if isinstance(func, FuncDef) else None
    return spec_type if isinstance(spec_type, CallableType) else None


def check_hookimpl(ctx: MethodContext) -> Type:
    """Report every way the decorated function breaks its hookspec; keep its type."""
    if not ctx.arg_types or not ctx.arg_types[0]:
        return ctx.default_return_type
    impl = get_proper_type(ctx.arg_types[0][0])
    if not isinstance(impl, CallableType) or impl.name is None:
        return ctx.default_return_type
    name = impl.name.split(" of ")[0]
    module = ctx.api.modules.get(SPEC_MODULE)  # type: ignore[attr-defined]
    if module is None:
        return ctx.default_return_type
    spec = _spec(ctx, name)
    if spec is None:
        hooks = ", ".join(sorted(n for n in module.names if n.startswith(("register_", "on_"))))
        ctx.api.fail(f'"{name}" is not a Jarvis hook (misspelt?); hooks: {hooks}', ctx.context)
        return ctx.default_return_type
    spec_args = {n: t for n, t in zip(spec.arg_names, spec.arg_types, strict=True) if n}
    for position, (arg, arg_type, kind) in enumerate(zip(impl.arg_names, impl.arg_types, impl.arg_kinds,
                                                          strict=True)):
        if position == 0 and arg in ("self", "cls"):
            continue
        if arg not in spec_args or kind != ARG_POS:
            ctx.api.fail(f'hook "{name}" has no argument "{arg}" (it passes: {", ".join(spec_args)})',
                         ctx.context)
            continue
        proper = get_proper_type(arg_type)
        if isinstance(proper, AnyType) and proper.type_of_any == TypeOfAny.unannotated:
            ctx.api.fail(f'annotate argument "{arg}" of hook "{name}" (the hook passes '
                         f'{spec_args[arg]}), so mypy checks how the plugin uses it', ctx.context)
        elif not is_subtype(spec_args[arg], arg_type):
            ctx.api.fail(f'argument "{arg}" of hook "{name}" is typed {arg_type}, but the hook passes '
                         f'{spec_args[arg]}', ctx.context)
    returned = get_proper_type(impl.ret_type)
    unannotated = isinstance(returned, AnyType) and returned.type_of_any == TypeOfAny.unannotated
    if not unannotated and not is_subtype(impl.ret_type, spec.ret_type):
        ctx.api.fail(f'hook "{name}" returns {impl.ret_type}; it must return {spec.ret_type}', ctx.context)
    return ctx.default_return_type


def plugin(version: str) -> type[Plugin]:
    """Entry point mypy calls."""
    return HookImplChecker
