"""The source rewrite that lets the host compiler build a .cu file against the CUDA emulation
(include/cuda_emulation.h): the two constructs that are not C++.

    kernel<T, 4><<<grid, block, shared, stream>>>(args)  ->  ::emu::launch<&kernel<T, 4> >(::emu::Config{...})(args)
    extern __shared__ T name[];                           ->  T* name = ::emu::dynamic_shared<T>();

Line numbers are kept (``#line``), so compiler errors and the emulator's barrier and shuffle sites
name the original file and line.
"""
import re

LAUNCH = re.compile(r'(?P<kernel>[A-Za-z_]\w*(?:\s*<[^<>;{}]*>)?)\s*<<<(?P<config>.*?)>>>\s*\(', re.S)
SHARED = re.compile(r'extern\s+__shared__\s+(?P<type>[^;\[\]]+?)\s+(?P<name>\w+)\s*\[\s*\]\s*;')


def rewrite(text, origin, renames=()):
    """``text`` of the .cu file ``origin`` as emulation C++; ``renames`` are (name, new name) macros
    set before the file (to build two copies of the same host functions into one library)."""
    launches = len(LAUNCH.findall(text))
    text = LAUNCH.sub(lambda m: f'::emu::launch<&{m["kernel"]} >(::emu::Config{{{m["config"]}}})(', text)
    text = SHARED.sub(lambda m: f'{m["type"]}* {m["name"]} = ::emu::dynamic_shared<{m["type"]}>();', text)
    if '<<<' in text or '__shared__' in text:
        raise ValueError(f'{origin}: a launch or shared-memory declaration the rewrite does not know')
    prelude = ['#include <cuda_emulation.h>']
    prelude += [f'#define {name} {new}' for name, new in renames]
    return '\n'.join(prelude + [f'#line 1 "{origin}"', text]), launches
