"""The engine arguments ``vllm(REF, ...)`` accepts: every field of vLLM's ``EngineArgs``,
under the engine's own name, with the basic type of its value.

``lint`` must not import vllm, so the table below is static, generated from the installed
vLLM (``python -m collabdsl.vllm_args`` in the vLLM virtualenv rewrites it);
tests/runtime/test_vllm_exec.py asserts that it still equals the installed vLLM's fields.

Each entry is ``name: (kinds, choices, optional)``:

* ``kinds``: the basic types a value may have: ``bool``, ``int``, ``float`` (an integer is a
  number too), ``str``, ``list`` (a list or set), ``dict`` (a dict, or one of vLLM's config
  objects, which ``vllm.LLM`` builds from a dict), ``any`` (an enum, a class or a callable:
  passed on unchecked; vLLM checks it when the engine starts);
* ``choices``: the values of a ``Literal`` type (None: any value of the kinds);
* ``optional``: ``none`` is a value (vLLM's default then).

Names collab sets itself are :data:`RESERVED` (a located error says why and what to use).
"""
from __future__ import annotations

import difflib

VLLM_VERSION = "0.32.0"

# Engine arguments collab controls: name -> why, and what to write instead.
RESERVED = {
    "model": "the model is the reference of vllm(REF)",
    "tokenizer": "collab tokenises prompts and training examples with the model's own tokenizer; "
                 "a different one would make the engine and the trainer disagree",
    "tokenizer_revision": "collab tokenises with the tokenizer of the model's reference (as the trainer does)",
    "revision": "the trainer and the engine must load the same weights: name a local folder or a hub id "
                "(a revision is not passed to the trainer)",
    "code_revision": "the trainer and the engine must load the same model code",
    "seed": "collab seeds every sampled request itself (the model option `seed`, else one derived from "
            "the run seed, the operation and the row)",
    "dtype": "use the model option `dtype` (dtype \"bf16\"), which the trainer reads too",
    "logprobs_mode": "collab reads raw log-probabilities (confidence, choose); another mode would "
                     "change them silently",
    "skip_tokenizer_init": "collab needs the engine's tokenizer to encode prompts",
}


def problem(name: str, value) -> str | None:
    """What is wrong with ``value`` for engine argument ``name`` (None: fine)."""
    entry = ENGINE_ARGS.get(name)
    if entry is None or value is None:
        return None
    kinds, choices, _ = entry
    if choices is not None:
        if value in choices and isinstance(value, bool) == any(isinstance(c, bool) for c in choices):
            return None
        shown = ", ".join(f'"{c}"' if isinstance(c, str) else str(c) for c in choices)
        return f"expected one of {shown}; got {_show(value)}"
    ok = {"bool": lambda v: isinstance(v, bool),
          "int": lambda v: isinstance(v, int) and not isinstance(v, bool)
          or (isinstance(v, float) and v.is_integer()),
          "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
          "str": lambda v: isinstance(v, str),
          "list": lambda v: isinstance(v, (list, tuple)),
          "dict": lambda v: isinstance(v, dict),
          "any": lambda v: True}
    if any(ok[k](value) for k in kinds):
        return None
    words = {"bool": "true or false", "int": "an integer", "float": "a number", "str": "a text",
             "list": "a list", "dict": "a dict", "any": "a value"}
    return f"expected {' or '.join(words[k] for k in kinds)}, got {_show(value)}"


def normalize(name: str, value):
    """The value passed to vLLM: a whole number written 2.0 for an int argument becomes 2."""
    entry = ENGINE_ARGS.get(name)
    if entry and entry[0] == ("int",) and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _show(v) -> str:
    return f'"{v}"' if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else f"{v}"


def unknown(name: str) -> str:
    """The message for a name that is no engine argument (or a reserved one)."""
    if name in RESERVED:
        return f"vllm() option '{name}' is set by collab: {RESERVED[name]}"
    close = difflib.get_close_matches(name, list(ENGINE_ARGS), n=3, cutoff=0.75)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return (f"vllm() has no option '{name}': it takes vLLM {VLLM_VERSION}'s engine arguments "
            f"(the fields of vllm.engine.arg_utils.EngineArgs){hint}")


def gpus(kwargs: dict) -> int:
    """GPUs one vLLM engine with these engine arguments uses: tensor x pipeline x data parallel."""
    n = 1
    for k in ("tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size"):
        v = kwargs.get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 1:
            n *= int(v)
    return n


# ------------------------------------------------------------------ the generator
def derive() -> dict:
    """The table from the installed vLLM's ``EngineArgs`` (imports vllm: the generator and
    its test only). Private fields (``_name``) are left out."""
    import dataclasses
    import enum
    import types
    import typing

    from vllm.engine.arg_utils import EngineArgs

    try:
        hints = typing.get_type_hints(EngineArgs)
    except Exception:  # noqa: BLE001 - a forward reference that does not resolve: the raw types
        hints = {}

    def kinds_of(t) -> tuple[set, tuple | None, bool]:
        o = typing.get_origin(t)
        if t is type(None):
            return set(), None, True
        if o is typing.Literal:
            vals = typing.get_args(t)
            kinds = {"bool" if isinstance(v, bool) else "int" if isinstance(v, int) else "str" for v in vals}
            return kinds, tuple(vals), False
        if o in (typing.Union, types.UnionType):
            kinds, choices, opt, lits = set(), [], False, True
            for a in typing.get_args(t):
                k, c, n = kinds_of(a)
                kinds |= k
                opt |= n
                if a is type(None):
                    continue
                if c is None:
                    lits = False
                else:
                    choices += list(c)
            return kinds, (tuple(choices) if lits and choices else None), opt
        if o in (list, set, tuple, frozenset) or t in (list, set, tuple, frozenset):
            return {"list"}, None, False
        if o is dict or t is dict or (isinstance(t, type) and dataclasses.is_dataclass(t)) \
                or (isinstance(t, type) and t.__name__.endswith("Config")):
            return {"dict"}, None, False
        if t in (bool, int, float, str):
            return {t.__name__}, None, False
        if isinstance(t, type) and issubclass(t, enum.Enum):
            return {"any"}, None, False
        return {"any"}, None, False

    order = ("bool", "int", "float", "str", "list", "dict", "any")
    out = {}
    for f in dataclasses.fields(EngineArgs):
        if f.name.startswith("_"):
            continue
        kinds, choices, opt = kinds_of(hints.get(f.name, f.type))
        if "any" in kinds:
            kinds = {"any"}
        if "float" in kinds:
            kinds.discard("int")
        out[f.name] = (tuple(k for k in order if k in kinds), choices, opt)
    return out


def render(table: dict) -> str:
    lines = ["ENGINE_ARGS: dict[str, tuple[tuple[str, ...], tuple | None, bool]] = {"]
    for name, (kinds, choices, opt) in table.items():
        lines.append(f"    {name!r}: ({kinds!r}, {choices!r}, {opt!r}),")
    lines.append("}")
    return "\n".join(lines) + "\n"


_BEGIN, _END = "# --- generated: python -m collabdsl.vllm_args ---\n", "# --- end generated ---\n"


def _rewrite() -> None:  # pragma: no cover - run by hand in the vLLM virtualenv
    import re
    from pathlib import Path

    import vllm

    path = Path(__file__)
    text = path.read_text()
    head, rest = text.split(_BEGIN, 1)
    _, tail = rest.split(_END, 1)
    # the assignment at the start of a line only (not this line)
    head = re.sub(r'^VLLM_VERSION = "[^"]*"$', f'VLLM_VERSION = "{vllm.__version__}"', head, flags=re.MULTILINE)
    path.write_text(head + _BEGIN + render(derive()) + _END + tail)


# --- generated: python -m collabdsl.vllm_args ---
ENGINE_ARGS: dict[str, tuple[tuple[str, ...], tuple | None, bool]] = {
    'model': (('str',), None, False),
    'enable_return_routed_experts': (('bool',), None, False),
    'return_sampling_mask': (('bool',), None, False),
    'model_weights': (('str',), None, False),
    'served_model_name': (('str', 'list'), None, True),
    'tokenizer': (('str',), None, True),
    'hf_config_path': (('str',), None, True),
    'runner': (('str',), ('auto', 'generate', 'pooling', 'draft'), False),
    'convert': (('str',), ('auto', 'none', 'embed', 'classify'), False),
    'skip_tokenizer_init': (('bool',), None, False),
    'enable_prompt_embeds': (('bool',), None, False),
    'tokenizer_mode': (('str',), None, False),
    'trust_remote_code': (('bool',), None, False),
    'allowed_local_media_path': (('str',), None, False),
    'allowed_media_domains': (('list',), None, True),
    'download_dir': (('str',), None, True),
    'safetensors_load_strategy': (('str',), ('lazy', 'eager', 'prefetch', 'torchao'), True),
    'safetensors_prefetch_num_threads': (('int',), None, False),
    'safetensors_prefetch_block_size': (('int',), None, False),
    'load_format': (('str',), None, False),
    'config_format': (('str',), None, False),
    'dtype': (('str',), ('auto', 'half', 'float16', 'bfloat16', 'float', 'float32'), False),
    'kv_cache_dtype': (('str',), ('auto', 'float16', 'bfloat16', 'fp8', 'fp8_e4m3', 'fp8_e5m2', 'fp8_inc', 'fp8_ds_mla', 'nvfp4_ds_mla', 'turboquant_k8v4', 'turboquant_4bit_nc', 'turboquant_k3v4_nc', 'turboquant_3bit_nc', 'ultraquant_4bit', 'int4_per_token_head', 'int8_per_token_head', 'fp8_per_token_head', 'nvfp4', 'nvfp4_4over6'), False),
    'seed': (('int',), None, False),
    'max_model_len': (('int',), None, False),
    'cudagraph_capture_sizes': (('list',), None, True),
    'max_cudagraph_capture_size': (('int',), None, True),
    'ir_op_priority': (('dict',), None, False),
    'distributed_executor_backend': (('any',), None, True),
    'pipeline_parallel_size': (('int',), None, False),
    'master_addr': (('str',), None, False),
    'master_port': (('int',), None, False),
    'nnodes': (('int',), None, False),
    'node_rank': (('int',), None, False),
    'distributed_timeout_seconds': (('int',), None, True),
    'cpu_distributed_timeout_seconds': (('int',), None, True),
    'numa_bind': (('bool',), None, False),
    'numa_bind_nodes': (('list',), None, True),
    'numa_bind_cpus': (('list',), None, True),
    'device_ids': (('list',), None, True),
    'tensor_parallel_size': (('int',), None, False),
    'prefill_context_parallel_size': (('int',), None, False),
    'decode_context_parallel_size': (('int',), None, False),
    'dcp_comm_backend': (('str',), ('ag_rs', 'a2a'), True),
    'dcp_q_replicate': (('bool',), None, True),
    'dcp_kv_cache_interleave_size': (('int',), None, False),
    'cp_kv_cache_interleave_size': (('int',), None, True),
    'data_parallel_size': (('int',), None, False),
    'data_parallel_rank': (('int',), None, True),
    'data_parallel_start_rank': (('int',), None, True),
    'data_parallel_size_local': (('int',), None, True),
    'data_parallel_address': (('str',), None, True),
    'data_parallel_rpc_port': (('int',), None, True),
    'data_parallel_hybrid_lb': (('bool',), None, False),
    'data_parallel_external_lb': (('bool',), None, False),
    'data_parallel_multi_port_external_lb': (('bool',), None, False),
    'data_parallel_backend': (('str',), ('ray', 'mp'), False),
    'enable_hc_sp': (('bool',), None, False),
    'enable_expert_parallel': (('bool',), None, False),
    'enable_batch_sharded_sampling': (('bool',), None, True),
    'enable_ep_weight_filter': (('bool',), None, False),
    'moe_backend': (('str',), ('auto', 'triton', 'batched_triton', 'deep_gemm', 'deep_gemm_mega_moe', 'cutlass', 'flashinfer_trtllm', 'flashinfer_cutlass', 'flashinfer_cutedsl', 'flashinfer_moe_ep_cutedsl', 'flashinfer_b12x', 'b12x', 'flashinfer_moe_ep_mega_deep_gemm', 'marlin', 'humming', 'triton_unfused', 'aiter', 'aiter_mega_moe', 'aiter_triton_mxfp4_bf16', 'flydsl', 'hpc', 'emulation', 'rdna3'), False),
    'linear_backend': (('str',), ('auto', 'cutlass', 'flashinfer_cutlass', 'flashinfer_cutedsl', 'flashinfer_trtllm', 'flashinfer_cudnn', 'flashinfer_b12x', 'b12x', 'marlin', 'humming', 'triton', 'deep_gemm', 'torch', 'aiter', 'machete', 'fbgemm', 'conch', 'exllama', 'emulation', 'xpu', 'xpu_woq'), False),
    'sparse_indexer_topk_backend': (('str',), ('auto', 'deep_select', 'cooperative', 'persistent', 'per_row', 'flashinfer', 'torch', 'aiter'), False),
    'all2all_backend': (('str',), ('naive', 'pplx', 'deepep_high_throughput', 'deepep_low_latency', 'deepep_v2', 'mori_high_throughput', 'mori_low_latency', 'moonep', 'nixl_ep', 'allgather_reducescatter', 'flashinfer_all2allv', 'flashinfer_nvlink_two_sided', 'flashinfer_nvlink_one_sided', 'passthrough'), False),
    'enable_elastic_ep': (('bool',), None, False),
    'elastic_ep_max_dp_size': (('int',), None, False),
    'enable_dbo': (('bool',), None, False),
    'ubatch_size': (('int',), None, False),
    'dbo_decode_token_threshold': (('int',), None, False),
    'dp_sync_interval': (('int',), None, False),
    'dbo_prefill_token_threshold': (('int',), None, False),
    'disable_nccl_for_dp_synchronization': (('bool',), None, True),
    'eplb_config': (('dict',), None, False),
    'enable_eplb': (('bool',), None, False),
    'expert_placement_strategy': (('str',), ('linear', 'round_robin'), False),
    'max_parallel_loading_workers': (('int',), None, True),
    'block_size': (('int',), None, True),
    'enable_prefix_caching': (('bool',), None, True),
    'prefix_caching_hash_algo': (('str',), ('sha256', 'sha256_cbor', 'xxhash', 'xxhash_cbor'), False),
    'prefix_cache_retention_interval': (('int',), None, True),
    'disable_sliding_window': (('bool',), None, False),
    'disable_cascade_attn': (('bool',), None, True),
    'offload_backend': (('str',), None, False),
    'cpu_offload_gb': (('float',), None, False),
    'cpu_offload_params': (('list',), None, False),
    'offload_group_size': (('int',), None, False),
    'offload_num_in_group': (('int',), None, False),
    'offload_prefetch_step': (('int',), None, False),
    'offload_params': (('list',), None, False),
    'gpu_memory_utilization': (('float',), None, False),
    'kv_cache_memory_bytes': (('int',), None, True),
    'max_num_batched_tokens': (('int',), None, True),
    'max_num_scheduled_tokens': (('int',), None, True),
    'long_prefill_token_threshold': (('int',), None, False),
    'long_prefill_token_threshold_adaptive': (('bool',), None, False),
    'max_num_seqs': (('int',), None, True),
    'max_num_active_seqs': (('int',), None, True),
    'max_num_queued_reqs': (('int',), None, True),
    'max_num_queued_tokens': (('int',), None, True),
    'max_logprobs': (('int',), None, False),
    'logprobs_mode': (('str',), ('raw_logits', 'raw_logprobs', 'processed_logits', 'processed_logprobs'), False),
    'use_fp64_gumbel': (('bool',), None, False),
    'enable_trace_replay': (('bool',), None, False),
    'disable_log_stats': (('bool',), None, False),
    'aggregate_engine_logging': (('bool',), None, False),
    'revision': (('str',), None, True),
    'code_revision': (('str',), None, True),
    'hf_token': (('bool', 'str'), None, True),
    'hf_overrides': (('any',), None, False),
    'model_class_overrides': (('dict',), None, False),
    'tokenizer_revision': (('str',), None, True),
    'quantization': (('str',), None, True),
    'quantization_config': (('any',), None, False),
    'allow_deprecated_quantization': (('bool',), None, False),
    'enforce_eager': (('bool',), None, False),
    'disable_custom_all_reduce': (('bool',), None, False),
    'enable_shm_tensor_arena': (('bool',), None, False),
    'language_model_only': (('bool',), None, False),
    'limit_mm_per_prompt': (('dict',), None, False),
    'enable_mm_embeds': (('bool',), None, False),
    'interleave_mm_strings': (('bool',), None, False),
    'media_io_kwargs': (('dict',), None, False),
    'mm_processor_kwargs': (('dict',), None, True),
    'mm_processor_cache_gb': (('float',), None, False),
    'mm_processor_cache_type': (('str',), ('shm', 'lru'), True),
    'mm_hasher_algorithm': (('str',), ('blake3', 'sha256', 'sha512'), False),
    'mm_shm_cache_max_object_size_mb': (('int',), None, False),
    'mm_encoder_only': (('bool',), None, False),
    'mm_encoder_tp_mode': (('str',), ('weights', 'data'), False),
    'mm_encoder_attn_backend': (('any',), None, True),
    'mm_encoder_attn_dtype': (('str',), None, True),
    'mm_encoder_fp8_scale_path': (('str',), None, True),
    'mm_encoder_fp8_scale_save_path': (('str',), None, True),
    'mm_encoder_fp8_scale_save_margin': (('float',), None, False),
    'io_processor_plugin': (('str',), None, True),
    'renderer_num_workers': (('int',), None, False),
    'skip_mm_profiling': (('bool',), None, False),
    'video_pruning_rate': (('float',), None, True),
    'video_pruning_method': (('str',), None, False),
    'mm_tensor_ipc': (('str',), ('direct_rpc', 'torch_shm'), False),
    'mm_processor_device': (('str',), None, False),
    'mm_ipc_gpu_memory_gb': (('float',), None, False),
    'mm_device_do_normalize': (('bool',), None, True),
    'enable_lora': (('bool',), None, False),
    'max_loras': (('int',), None, False),
    'max_lora_rank': (('int',), (1, 8, 16, 32, 64, 128, 256, 320, 512), False),
    'default_mm_loras': (('dict',), None, True),
    'fully_sharded_loras': (('bool',), None, False),
    'max_cpu_loras': (('int',), None, True),
    'lora_dtype': (('any',), None, True),
    'lora_target_modules': (('list',), None, True),
    'enable_tower_connector_lora': (('bool',), None, False),
    'specialize_active_lora': (('bool',), None, False),
    'enable_mixed_moe_lora_format': (('bool',), None, False),
    'enable_moe_shared_loras': (('bool',), None, False),
    'max_lora_cls_labels': (('int',), None, True),
    'ray_workers_use_nsight': (('bool',), None, False),
    'num_gpu_blocks_override': (('int',), None, True),
    'model_loader_extra_config': (('dict',), None, False),
    'ignore_patterns': (('str', 'list'), None, False),
    'enable_chunked_prefill': (('bool',), None, True),
    'disable_chunked_mm_input': (('bool',), None, False),
    'scheduler_reserve_full_isl': (('bool',), None, False),
    'prefill_schedule_interval': (('int',), None, False),
    'watermark': (('float',), None, False),
    'disable_hybrid_kv_cache_manager': (('bool',), None, True),
    'structured_outputs_config': (('dict',), None, False),
    'aux_output_config': (('dict',), None, False),
    'reasoning_parser': (('str',), None, False),
    'reasoning_parser_plugin': (('str',), None, True),
    'speculative_config': (('dict',), None, True),
    'spec_method': (('str',), None, True),
    'spec_model': (('str',), None, True),
    'spec_tokens': (('int',), None, True),
    'watermark_config': (('dict',), None, True),
    'diffusion_config': (('dict',), None, True),
    'show_hidden_metrics_for_version': (('str',), None, True),
    'otlp_traces_endpoint': (('str',), None, True),
    'collect_detailed_traces': (('list',), None, True),
    'per_request_spec_decode_metrics': (('str',), ('none', 'summary', 'detailed'), False),
    'kv_cache_metrics': (('bool',), None, False),
    'kv_cache_metrics_sample': (('float',), None, False),
    'custom_histogram_buckets': (('dict',), None, True),
    'cudagraph_metrics': (('bool',), None, False),
    'enable_layerwise_nvtx_tracing': (('bool',), None, False),
    'enable_mfu_metrics': (('bool',), None, False),
    'enable_logging_iteration_details': (('bool',), None, False),
    'jit_monitor_mode': (('str',), ('warn', 'error'), False),
    'jit_monitor_verbose': (('bool',), None, False),
    'enable_mm_processor_stats': (('bool',), None, False),
    'scheduling_policy': (('str',), ('fcfs', 'priority'), False),
    'scheduler_cls': (('any',), None, True),
    'pooler_config': (('dict',), None, True),
    'compilation_config': (('dict',), None, False),
    'attention_config': (('dict',), None, False),
    'engram_config': (('dict',), None, True),
    'mamba_config': (('dict',), None, False),
    'kernel_config': (('dict',), None, False),
    'enable_flashinfer_autotune': (('bool',), None, False),
    'worker_cls': (('str',), None, False),
    'worker_extension_cls': (('str',), None, False),
    'profiler_config': (('dict',), None, False),
    'logging_config': (('dict',), None, True),
    'log_level': (('str',), ('CRITICAL', 'ERROR', 'WARNING', 'INFO', 'DEBUG', 'NOTSET'), True),
    'log_config_file': (('str',), None, True),
    'kv_transfer_config': (('dict',), None, True),
    'kv_events_config': (('dict',), None, True),
    'ec_transfer_config': (('dict',), None, True),
    'ec_manager_config': (('dict',), None, False),
    'reasoning_config': (('dict',), None, False),
    'generation_config': (('str',), None, False),
    'enable_sleep_mode': (('bool',), None, False),
    'sleep_mode_offload_cudagraph': (('bool',), None, False),
    'sleep_preserve_parameter_names': (('list',), None, False),
    'enable_cumem_allocator': (('bool',), None, False),
    'enable_nccl_comm_suspend': (('bool',), None, False),
    'override_generation_config': (('dict',), None, False),
    'model_impl': (('str',), None, False),
    'attention_backend': (('any',), None, True),
    'kv_cache_dtype_skip_layers': (('list',), None, False),
    'mamba_cache_dtype': (('str',), ('auto', 'float32', 'float16', 'bfloat16'), False),
    'mamba_ssm_cache_dtype': (('str',), ('auto', 'float32', 'float16', 'bfloat16'), False),
    'mamba_block_size': (('int',), None, True),
    'prefix_match_unit': (('int',), None, True),
    'mamba_cache_mode': (('str',), ('align', 'none'), False),
    'enable_mamba_shared_prefix_checkpoint': (('bool',), None, False),
    'replayssm_buffer_len': (('int',), None, False),
    'use_replayssm': (('bool',), None, False),
    'mamba_backend': (('any',), None, False),
    'mamba_ssu_algorithm': (('str',), ('auto', 'simple', 'vertical', 'horizontal'), True),
    'enable_mamba_cache_stochastic_rounding': (('bool',), None, False),
    'mamba_cache_philox_rounds': (('int',), None, False),
    'additional_config': (('dict',), None, False),
    'use_tqdm_on_load': (('bool',), None, False),
    'pt_load_map_location': (('str', 'dict'), None, False),
    'logits_processors': (('list',), None, True),
    'async_scheduling': (('bool',), None, True),
    'stream_interval': (('int',), None, False),
    'kv_sharing_fast_prefill': (('bool',), None, False),
    'swa_bounded_replay': (('bool',), None, False),
    'optimization_level': (('any',), None, False),
    'performance_mode': (('str',), ('balanced', 'interactivity', 'throughput'), False),
    'fault_tolerance_config': (('dict',), None, False),
    'enable_fault_tolerance': (('bool',), None, False),
    'kv_offloading_size': (('float',), None, True),
    'kv_offloading_backend': (('str',), ('native', 'lmcache'), False),
    'tokens_only': (('bool',), None, False),
    'shutdown_timeout': (('int',), None, False),
    'weight_transfer_config': (('dict',), None, True),
    'fail_on_environ_validation': (('bool',), None, False),
    'gdn_prefill_backend': (('str',), ('flashinfer', 'triton', 'cutedsl', 'aiter_flydsl'), True),
    'kda_prefill_backend': (('str',), ('auto', 'triton', 'flashkda', 'flashinfer', 'fused'), True),
    'kda_decode_backend': (('str',), ('auto', 'native', 'flashinfer', 'triton'), True),
}
# --- end generated ---

if __name__ == "__main__":  # pragma: no cover
    _rewrite()
