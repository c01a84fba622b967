"""An import-linter contract type: no import cycles among first-party modules.

Every import counts, including those inside functions or under ``if TYPE_CHECKING``: a function-level
import hides a cycle from Python's import order, not from the design. An import of a module's own
ancestor package is not an edge (``chalicelib.api.framework`` importing ``chalicelib.api`` is the
package structure, not a cycle). Configured in pyproject.toml as ``type = "acyclic_modules"`` with
``packages``: a contract reports the cycles that touch any of those root packages, so one contract
can stay kept while another package is being untangled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set

import grimp
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


def import_graph_edges(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    """Module -> first-party modules it imports directly (own ancestors left out)."""
    return {
        module: {target for target in graph.find_modules_directly_imported_by(module)
                 if target != module and not module.startswith(target + ".")}
        for module in graph.modules
    }


def import_cycles(edges: Mapping[str, Set[str]]) -> list[list[str]]:
    """Strongly connected sets of two or more modules, each sorted, in sorted order (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work: list[tuple[str, Iterable[str]]] = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            advanced = False
            for succ in successors:
                if succ not in edges:
                    continue
                if succ not in index:
                    index[succ] = low[succ] = counter
                    counter += 1
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(edges[succ]))))
                    advanced = True
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


class AcyclicModulesContract(Contract):
    """Kept when no import cycle touches a module of ``packages``."""

    type_name = "acyclic_modules"
    packages = fields.ListField(subfield=fields.StringField())

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        """Find the cycles in the whole first-party graph; keep those that touch ``packages``."""
        roots = tuple(str(p) for p in self.packages)  # type: ignore[attr-defined]  # set by the field
        touching = [cycle for cycle in import_cycles(import_graph_edges(graph))
                    if any(m == r or m.startswith(r + ".") for m in cycle for r in roots)]
        return ContractCheck(kept=not touching, warnings=None, metadata={"cycles": touching})

    def render_broken_contract(self, check: ContractCheck) -> None:
        """One line per cycle: its modules, sorted."""
        for cycle in check.metadata["cycles"]:
            output.print_error("cycle: " + " <-> ".join(cycle), bold=False)
            output.new_line()
