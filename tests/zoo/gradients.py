"""The gradient zoo: forward outputs exactly the built-ins', gradients wrong or right.

Every implementation here returns, when called, the very output of its subject's
``nnx_vmap`` built-in (it calls it), so no forward property can tell it apart; only
its derivative with respect to ``x_batch`` differs. ``BROKEN[subject]`` maps each
broken one to the properties that must catch it; ``CORRECT[subject]`` maps each
correct one to the properties it must pass (the built-ins must pass both).

A ``jax.custom_vjp`` function has no forward-mode derivative (JAX raises on
``jax.jvp``), so the correct ``custom_vjp`` variants are held to the VJP only; the
JVP property reports such an implementation as failing, which it is for a caller
of ``jax.jvp``, ``jax.jacfwd`` or ``jax.hessian``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_dtypes

from impl.nnx_vmap import vmap_over_batch as batch_reference
from impl.validation import check_vmap_over_batch_args, check_vmap_over_ensemble_args
from impl.vmap_anchored import nnx_vmap as anchored_reference
from impl.vmap_over_ensemble import make_ensemble
from impl.vmap_over_ensemble import nnx_vmap as ensemble_reference
from tests.zoo.common import params

VJP = "vjp_agrees_with_oracle"
JVP = "jvp_agrees_with_oracle"

#: (args, x, cotangent or tangent) -> the gradient or the tangent output
Rule = Callable[[tuple[Any, ...], jax.Array, jax.Array], jax.Array]


def _validate(args: tuple[Any, ...]) -> None:
    """The built-ins' argument checks (so that invalid input fails as theirs does)."""
    if len(args) == 4:
        check_vmap_over_ensemble_args(*args)
    else:
        check_vmap_over_batch_args(*args)


def _forward(reference: Callable[..., jax.Array], args: tuple[Any, ...]) -> Callable[[Any], jax.Array]:
    """``x -> reference(seed, x, *sizes)``: the built-in with every argument but the batch fixed."""
    seed, _, *sizes = args
    return lambda x: reference(seed, x, *sizes)


def _with_vjp(reference: Callable[..., jax.Array], backward: Rule) -> Callable[..., jax.Array]:
    """``reference`` whose VJP with respect to ``x_batch`` is ``backward`` (a ``jax.custom_vjp``)."""

    def implementation(*args: Any) -> jax.Array:
        _validate(args)
        forward = _forward(reference, args)

        @jax.custom_vjp
        def f(x: Any) -> jax.Array:
            return forward(x)

        def f_fwd(x: Any) -> tuple[jax.Array, Any]:
            return forward(x), x

        def f_bwd(x: Any, cotangent: jax.Array) -> tuple[jax.Array]:
            return (backward(args, x, cotangent),)

        f.defvjp(f_fwd, f_bwd)
        return f(args[1])

    return implementation


def _with_jvp(reference: Callable[..., jax.Array], pushforward: Rule) -> Callable[..., jax.Array]:
    """``reference`` whose JVP with respect to ``x_batch`` is ``pushforward`` (a ``jax.custom_jvp``)."""

    def implementation(*args: Any) -> jax.Array:
        _validate(args)
        forward = _forward(reference, args)
        f = jax.custom_jvp(forward)

        @f.defjvp
        def f_jvp(primals: tuple[Any], tangents: tuple[Any]) -> tuple[jax.Array, jax.Array]:
            (x,), (t,) = primals, tangents
            return forward(x), pushforward(args, x, t)

        return f(args[1])

    return implementation


def _true_vjp(reference: Callable[..., jax.Array], args: tuple[Any, ...], x: Any, ct: jax.Array) -> jax.Array:
    """JAX's own VJP of the built-in: what the broken backward passes start from."""
    _, pullback = jax.vjp(_forward(reference, args), x)
    return pullback(ct)[0]


def _kernel(args: tuple[Any, ...], x: Any) -> jax.Array:
    """The layer's kernel ``(D_in, features)``, made as the built-ins make it. ``x`` is the
    primal the rule was given (``args`` may hold a tracer of a finished trace)."""
    seed, _, features = args
    return params(seed, x, features)[0]


def _kernels(args: tuple[Any, ...], x: Any) -> jax.Array:
    """The ensemble's kernels ``(n_models, D_in, features)``."""
    seed, x, features, n_models = check_vmap_over_ensemble_args(args[0], x, *args[2:])
    return make_ensemble(seed, x.shape[-1], features, n_models).kernel[...]


def _rows_times_kernel_t(args: tuple[Any, ...], x: Any, ct: jax.Array) -> jax.Array:
    """``CT @ W^T`` with the flat cotangent as ``(B, features)``: the Linear's own VJP."""
    kernel = _kernel(args, x)
    return ct.reshape(-1, kernel.shape[1]) @ kernel.T


# ----------------------------------------------------------------- vmap_over_batch: broken


def stop_gradient(seed: Any, x_batch: Any, features: Any) -> jax.Array:
    """Treats the input as a constant: every gradient with respect to it is zero."""
    check_vmap_over_batch_args(seed, x_batch, features)
    return batch_reference(seed, jax.lax.stop_gradient(jnp.asarray(x_batch)), features)


#: A backward pass that doubles the gradient (e.g. a sum counted twice).
doubled_backward = _with_vjp(batch_reference, lambda a, x, ct: 2 * _true_vjp(batch_reference, a, x, ct))

#: A backward pass written for blocks of 64 rows that forgets the remainder: rows >= 64 get zero.
backward_drops_rows_past_64 = _with_vjp(
    batch_reference, lambda a, x, ct: _true_vjp(batch_reference, a, x, ct).at[64:].set(0)
)


def _bfloat16_tangent(args: tuple[Any, ...], x: Any, t: jax.Array) -> jax.Array:
    """The right pushforward of a tangent first rounded to bfloat16 (to save memory)."""
    rounded = t.astype(ml_dtypes.bfloat16).astype(t.dtype)
    return jax.jvp(_forward(batch_reference, args), (x,), (rounded,))[1]


#: A JVP rule that rounds the tangent to bfloat16: off by about 2**-9 relative.
tangent_in_bfloat16 = _with_jvp(batch_reference, _bfloat16_tangent)


# ----------------------------------------------------------------- vmap_over_batch: correct

#: ``dX = CT @ W^T``, written out.
custom_vjp_correct = _with_vjp(batch_reference, _rows_times_kernel_t)

#: ``T @ W``, written out.
custom_jvp_correct = _with_jvp(batch_reference, lambda a, x, t: (t @ _kernel(a, x)).reshape(-1))


# ----------------------------------------------------------------- vmap_over_ensemble


def _member_0_only(args: tuple[Any, ...], x: Any, ct: jax.Array) -> jax.Array:
    """Pulls back member 0's cotangent only (an index [0] where the members should be summed)."""
    kernels = _kernels(args, x)
    return ct.reshape(kernels.shape[0], -1, kernels.shape[2])[0] @ kernels[0].T


def _ensemble_backward(args: tuple[Any, ...], x: Any, ct: jax.Array) -> jax.Array:
    """``dX = sum_m CT_m @ W_m^T``, written out."""
    kernels = _kernels(args, x)
    return jnp.einsum("mbf,mdf->bd", ct.reshape(kernels.shape[0], -1, kernels.shape[2]), kernels)


ensemble_backward_member_0_only = _with_vjp(ensemble_reference, _member_0_only)
ensemble_backward_drops_rows_past_64 = _with_vjp(
    ensemble_reference, lambda a, x, ct: _ensemble_backward(a, x, ct).at[64:].set(0)
)
ensemble_custom_vjp_correct = _with_vjp(ensemble_reference, _ensemble_backward)


def _through_member_0(args: tuple[Any, ...], x: Any, t: jax.Array) -> jax.Array:
    """Pushes the tangent through member 0's kernel for every member (one kernel, not the stack)."""
    kernels = _kernels(args, x)
    return jnp.broadcast_to(t @ kernels[0], (kernels.shape[0], t.shape[0], kernels.shape[2])).reshape(-1)


ensemble_tangent_through_member_0 = _with_jvp(ensemble_reference, _through_member_0)
#: ``T @ W_m`` for every member, written out.
ensemble_custom_jvp_correct = _with_jvp(
    ensemble_reference, lambda a, x, t: jnp.einsum("bd,mdf->mbf", t, _kernels(a, x)).reshape(-1)
)


# ----------------------------------------------------------------- vmap_anchored


def _anchored_backward(args: tuple[Any, ...], x: Any, ct: jax.Array) -> jax.Array:
    """``g = CT @ W^T`` per row, then the coupling through ``x[0]``: ``g - e_0 sum(g)``."""
    g = _rows_times_kernel_t(args, x, ct)
    return g.at[:, 0].add(-g.sum(axis=1))


def _anchored_tangent_without_anchor(args: tuple[Any, ...], x: Any, t: jax.Array) -> jax.Array:
    """``T @ W``: the Linear's pushforward, forgetting that the input is measured from x[0]."""
    return (t @ _kernel(args, x)).reshape(-1)


#: The plain Linear's VJP, as if x[0] were a constant: no coupling through x[0].
anchored_backward_ignores_anchor = _with_vjp(anchored_reference, _rows_times_kernel_t)
anchored_tangent_ignores_anchor = _with_jvp(anchored_reference, _anchored_tangent_without_anchor)
anchored_custom_vjp_correct = _with_vjp(anchored_reference, _anchored_backward)
anchored_custom_jvp_correct = _with_jvp(
    anchored_reference, lambda a, x, t: ((t - t[:, :1]) @ _kernel(a, x)).reshape(-1)
)


#: subject -> name -> (function, properties that must catch it)
BROKEN: dict[str, dict[str, tuple[Any, tuple[str, ...]]]] = {
    "vmap_over_batch": {
        "stop_gradient": (stop_gradient, (VJP, JVP)),
        "doubled_backward": (doubled_backward, (VJP,)),
        "backward_drops_rows_past_64": (backward_drops_rows_past_64, (VJP,)),
        "tangent_in_bfloat16": (tangent_in_bfloat16, (JVP, VJP)),
    },
    "vmap_over_ensemble": {
        "ensemble_backward_member_0_only": (ensemble_backward_member_0_only, (VJP,)),
        "ensemble_backward_drops_rows_past_64": (ensemble_backward_drops_rows_past_64, (VJP,)),
        "ensemble_tangent_through_member_0": (ensemble_tangent_through_member_0, (JVP,)),
    },
    "vmap_anchored": {
        "anchored_backward_ignores_anchor": (anchored_backward_ignores_anchor, (VJP,)),
        "anchored_tangent_ignores_anchor": (anchored_tangent_ignores_anchor, (JVP,)),
    },
}

#: subject -> name -> (function, properties it must pass); the built-ins must pass both too
CORRECT: dict[str, dict[str, tuple[Any, tuple[str, ...]]]] = {
    "vmap_over_batch": {
        "custom_vjp_correct": (custom_vjp_correct, (VJP,)),
        "custom_jvp_correct": (custom_jvp_correct, (VJP, JVP)),
    },
    "vmap_over_ensemble": {
        "ensemble_custom_vjp_correct": (ensemble_custom_vjp_correct, (VJP,)),
        "ensemble_custom_jvp_correct": (ensemble_custom_jvp_correct, (VJP, JVP)),
    },
    "vmap_anchored": {
        "anchored_custom_vjp_correct": (anchored_custom_vjp_correct, (VJP,)),
        "anchored_custom_jvp_correct": (anchored_custom_jvp_correct, (VJP, JVP)),
    },
}

#: subject -> its built-in that every implementation here calls for the forward pass
REFERENCES: dict[str, Callable[..., jax.Array]] = {
    "vmap_over_batch": batch_reference,
    "vmap_over_ensemble": ensemble_reference,
    "vmap_anchored": anchored_reference,
}
