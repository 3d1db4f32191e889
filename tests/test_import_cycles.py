"""No import cycle between the project's modules (the apps and fiko/), imports inside
functions included: a service module of one app never imports a service module that imports
it back (conversations/services.py <-> customers/services.py was one: customers published
through conversations.services, which imported customers.services; both now publish through
conversations/events.py). Module-level or hidden in a function, a cycle makes import order
matter and ties two apps into one."""
import ast
from pathlib import Path

from django.conf import settings

BASE = Path(settings.BASE_DIR)


def project_modules(base: Path) -> dict[str, Path]:
    """{dotted name: file} of every module of the project's packages (a folder at the top with
    an __init__.py), tests and migrations left out."""
    modules = {}
    for init in base.glob("*/__init__.py"):
        if init.parent.name == "tests":
            continue
        for path in init.parent.rglob("*.py"):
            parts = path.relative_to(base).with_suffix("").parts
            if "migrations" in parts:
                continue
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """{module: the project modules it imports}, from every import statement anywhere in it;
    ``from package import name`` counts the submodule ``package.name`` when it is one. A
    package's own __init__ (empty faces here) is not a target."""
    def known(name):
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {known(alias.name) for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.add(full if full in modules else known(base))
        graph[name] = {t for t in targets if t and t != name and modules[t].name != "__init__.py"}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_between_the_projects_modules():
    graph = import_graph(project_modules(BASE))
    assert "conversations.events" in graph["customers.services"]  # the reader sees the imports
    assert "customers.services" not in graph["conversations.services"]
    found = cycles(graph)
    ties = [[f"{a} -> {b}" for a in group for b in sorted(graph[a]) if b in group] for group in found]
    assert not found, f"import cycles: {ties}"


def test_a_cycle_through_an_import_inside_a_function_is_found(tmp_path):
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "__init__.py").write_text("")
    (tmp_path / "shop" / "services.py").write_text("from people import services\n")
    (tmp_path / "people").mkdir()
    (tmp_path / "people" / "__init__.py").write_text("")
    (tmp_path / "people" / "services.py").write_text(
        "def publish():\n    from shop.services import order\n    return order\n")
    (tmp_path / "people" / "models.py").write_text("from . import services\n")
    graph = import_graph(project_modules(tmp_path))
    assert cycles(graph) == [["people.services", "shop.services"]]
