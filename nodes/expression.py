"""Math expressions: ComfyUI's Math Expression node (``ComfyMathExpression``) and a safe evaluator.

An expression comes from a workflow file, which may come from anyone, so it is
never given to ``eval``. ``evaluate`` parses it with ``ast`` and walks the tree
itself, allowing only:

- numbers (int, float; True/False), the variables (``a``..``z``, bound to the
  connected inputs, and ``values``, the list of them in order);
- ``+ - * / // % **``, unary ``+ - not``, comparisons, ``and``/``or``,
  ``x if c else y``, list and tuple literals;
- calls of the functions in ``FUNCTIONS`` (ComfyUI's list), by name, with
  positional arguments.

Bounds: the text is at most ``MAX_LENGTH`` characters and ``MAX_DEPTH`` levels
deep; an exponent is at most ``MAX_EXPONENT`` in size (ComfyUI's limit) and no
integer may grow past ``MAX_INT_BITS`` bits (checked before multiplying or
raising to a power), so no expression can take long or much memory. Anything
else is a ``ValueError`` naming what is not allowed.
"""

from __future__ import annotations

import ast
import math
import operator
import string
from collections.abc import Callable
from typing import Any

from engine.dynamic import autogrow

MAX_LENGTH = 4096  # characters of an expression
MAX_DEPTH = 64  # levels of nesting of its syntax tree
MAX_EXPONENT = 4000  # |exponent| of ** and pow(), as ComfyUI
MAX_INT_BITS = 65536  # bits of any integer along the way (about 19,700 digits)

VARIABLES = tuple(string.ascii_lowercase)


class ExpressionError(ValueError):
    """An expression that is not allowed, or fails to evaluate; the message says why."""


def _checked_pow(base, exponent):
    if isinstance(exponent, (int, float)) and abs(exponent) > MAX_EXPONENT:
        raise ExpressionError(f"an exponent is larger than {MAX_EXPONENT}")
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and exponent > 0
        and base.bit_length() * exponent > MAX_INT_BITS
    ):
        raise ExpressionError("a power would be too large a number")
    return operator.pow(base, exponent)


def _checked_mul(a, b):
    if isinstance(a, int) and isinstance(b, int) and a.bit_length() + b.bit_length() > MAX_INT_BITS:
        raise ExpressionError("the product would be too large a number")
    return a * b


def _sum(*args):
    """``sum(values)`` and ``sum(a, b, c)`` both work, as in ComfyUI."""
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        return sum(args[0])
    return sum(args)


FUNCTIONS: dict[str, Callable] = {
    "sum": _sum,
    "min": min,
    "max": max,
    "abs": abs,
    "round": round,
    "pow": _checked_pow,
    "sqrt": math.sqrt,
    "ceil": math.ceil,
    "floor": math.floor,
    "log": math.log,
    "log2": math.log2,
    "log10": math.log10,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "int": int,
    "float": float,
}

_BINARY: dict[type, Callable] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: _checked_mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: _checked_pow,
}
_UNARY: dict[type, Callable] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
    ast.Not: operator.not_,
}
_COMPARE: dict[type, Callable] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


def evaluate(expression: str, names: dict[str, Any]) -> Any:
    """The value of ``expression`` with ``names`` bound (see the module docstring)."""
    if not isinstance(expression, str):
        raise ExpressionError(f"the expression must be text, not {type(expression).__name__}")
    if len(expression) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters")
    if not expression.strip():
        raise ExpressionError("the expression is empty")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"syntax error in the expression: {exc.msg}") from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError("the expression is nested too deeply") from None
    _check_depth(tree)
    try:
        return _Evaluator(names).visit(tree.body)
    except ExpressionError:
        raise
    except ZeroDivisionError:
        raise ExpressionError("division by zero") from None
    except OverflowError:
        raise ExpressionError("a number became too large") from None
    except (TypeError, ValueError) as exc:
        raise ExpressionError(str(exc)) from None


def _check_depth(tree: ast.AST) -> None:
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExpressionError(f"the expression is nested more than {MAX_DEPTH} levels deep")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


class _Evaluator:
    def __init__(self, names: dict[str, Any]):
        self.names = names

    def visit(self, node: ast.AST) -> Any:
        method = getattr(self, "visit_" + type(node).__name__, None)
        if method is None:
            raise ExpressionError(f"{_describe(node)} is not allowed in an expression")
        result = method(node)
        if isinstance(result, int) and result.bit_length() > MAX_INT_BITS:
            raise ExpressionError("a number became too large")
        return result

    def visit_Constant(self, node: ast.Constant) -> Any:
        if type(node.value) in (int, float, bool):
            return node.value
        raise ExpressionError(f"the constant {node.value!r} is not a number")

    def visit_Name(self, node: ast.Name) -> Any:
        if node.id in self.names:
            return self.names[node.id]
        if node.id in FUNCTIONS:
            raise ExpressionError(f"{node.id} is a function: call it, as in {node.id}(a)")
        known = ", ".join(sorted(self.names)) or "none: connect an input first"
        raise ExpressionError(f"unknown name {node.id!r} (the names bound: {known})")

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        op = _BINARY.get(type(node.op))
        if op is None:
            raise ExpressionError(f"the operator {_describe(node.op)} is not allowed")
        return op(self.visit(node.left), self.visit(node.right))

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        op = _UNARY.get(type(node.op))
        if op is None:
            raise ExpressionError(f"the operator {_describe(node.op)} is not allowed")
        return op(self.visit(node.operand))

    def visit_BoolOp(self, node: ast.BoolOp) -> Any:
        value = None
        for operand in node.values:  # short-circuits as Python does
            value = self.visit(operand)
            if isinstance(node.op, ast.And) and not value:
                return value
            if isinstance(node.op, ast.Or) and value:
                return value
        return value

    def visit_Compare(self, node: ast.Compare) -> Any:
        left = self.visit(node.left)
        for op_node, right_node in zip(node.ops, node.comparators, strict=True):
            op = _COMPARE.get(type(op_node))
            if op is None:
                raise ExpressionError(f"the comparison {_describe(op_node)} is not allowed")
            right = self.visit(right_node)
            if not op(left, right):
                return False
            left = right
        return True

    def visit_IfExp(self, node: ast.IfExp) -> Any:
        return self.visit(node.body) if self.visit(node.test) else self.visit(node.orelse)

    def visit_List(self, node: ast.List) -> Any:
        return [self.visit(e) for e in node.elts]

    def visit_Tuple(self, node: ast.Tuple) -> Any:
        return tuple(self.visit(e) for e in node.elts)

    def visit_Call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            allowed = ", ".join(FUNCTIONS)
            raise ExpressionError(f"only these functions can be called: {allowed}")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise ExpressionError(f"{node.func.id}() takes positional arguments only")
        return FUNCTIONS[node.func.id](*[self.visit(a) for a in node.args])


def _describe(node: ast.AST) -> str:
    return {
        ast.LShift: "<<",
        ast.RShift: ">>",
        ast.BitAnd: "&",
        ast.BitOr: "|",
        ast.BitXor: "^",
        ast.Invert: "~",
        ast.MatMult: "@",
        ast.Is: "is",
        ast.IsNot: "is not",
        ast.In: "in",
        ast.NotIn: "not in",
        ast.Attribute: "attribute access (.)",
        ast.Subscript: "indexing ([])",
        ast.Lambda: "lambda",
    }.get(type(node), type(node).__name__)


class ComfyMathExpression:
    DESCRIPTION = (
        "Evaluates a math expression over the connected values a, b, c... (values.a, values.b... "
        "in a prompt; `values` is the list of them). Allowed: numbers, + - * / // % **, "
        "comparisons, and/or/not, x if c else y, and the functions " + ", ".join(FUNCTIONS) + ". "
        "Outputs the result as a float, an int and a boolean. Evaluated safely (parsed, never "
        "eval'ed); exponents are bounded."
    )
    CATEGORY = "utilities"
    RETURN_TYPES = ("FLOAT", "INT", "BOOLEAN")
    RETURN_NAMES = ("FLOAT", "INT", "BOOL")
    OUTPUT_TOOLTIPS = (
        "The result as a float.",
        "The result as an int (truncated).",
        "Whether the result is non-zero.",
    )
    FUNCTION = "execute"

    @classmethod
    def INPUT_TYPES(cls):
        values = autogrow(
            "values",
            ("FLOAT,INT,BOOLEAN", {}),
            VARIABLES,
            tooltip="A number the expression names by this letter.",
        )
        return {
            "required": {
                "expression": (
                    "STRING",
                    {
                        "default": "a + b",
                        "multiline": True,
                        "tooltip": "The expression, e.g. 'max(a, b) / 2' or 'a ** 2 if c else 0'.",
                    },
                ),
            },
            "optional": values["optional"],
        }

    def execute(self, expression, **inputs):
        names = {name.split(".", 1)[1]: value for name, value in inputs.items()}
        names = {k: names[k] for k in VARIABLES if k in names}
        names["values"] = list(names.values())
        result = evaluate(expression, names)
        if not isinstance(result, (int, float)):  # a bool is an int
            raise ExpressionError(
                f"the expression {expression!r} gave a {type(result).__name__}, not a number"
            )
        try:
            as_float = float(result)
        except OverflowError:
            raise ExpressionError(
                f"the result of {expression!r} is too large for a float"
            ) from None
        if not math.isfinite(as_float):
            raise ExpressionError(f"the result of {expression!r} is not finite: {result}")
        return (as_float, int(result), bool(result))


NODE_CLASS_MAPPINGS = {"ComfyMathExpression": ComfyMathExpression}
NODE_DISPLAY_NAME_MAPPINGS = {"ComfyMathExpression": "Math Expression"}
