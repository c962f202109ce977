// Bounds checks for the tensors of an emulated kernel: while installed, every CPU tensor is
// allocated against an inaccessible page, after its end (an access past the end faults) or before
// its start (an access before the start faults), and starts filled with 0xff bytes (NaN in every
// floating type), so that an output element a kernel forgets to write does not read as a plausible
// zero. The emulator turns a fault inside a kernel into an error naming the kernel and thread.
// Granularity: an allocation is rounded up to 16 bytes (the vector loads' alignment).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>

#include <cstring>

namespace emu {

class GuardedAllocator final : public c10::Allocator {
 public:
  enum Side { kOff = 0, kAfter = 1, kBefore = 2 };

  c10::DataPtr allocate(size_t bytes) override {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t rounded = (bytes + 15) / 16 * 16;
    const size_t size = ((rounded + page - 1) / page + 2) * page;  // a guard page on each side
    void* mapped = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    TORCH_CHECK(mapped != MAP_FAILED, "CUDA emulation: cannot map ", size, " bytes for a tensor");
    auto* base = static_cast<char*>(mapped);
    mprotect(base, page, PROT_NONE);
    mprotect(base + size - page, page, PROT_NONE);
    char* data = side_ == kBefore ? base + page : base + size - page - rounded;
    std::memset(data, 0xff, rounded);
    return {data, new Mapping{mapped, size}, &release, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return nullptr; }
  void copy_data(void* dest, const void* src, std::size_t count) const override { std::memcpy(dest, src, count); }

  // Installs the allocator with ``side``, or restores the one it replaced (kOff).
  void install(int side) {
    TORCH_CHECK(side >= kOff && side <= kBefore, "CUDA emulation: guard side must be 0, 1 or 2");
    if (side == kOff) {
      if (replaced_ != nullptr) c10::SetCPUAllocator(replaced_, priority_);
      replaced_ = nullptr;
      return;
    }
    side_ = static_cast<Side>(side);
    if (replaced_ == nullptr) {
      replaced_ = c10::GetCPUAllocator();
      c10::SetCPUAllocator(this, priority_);
      TORCH_CHECK(c10::GetCPUAllocator() == this, "CUDA emulation: the CPU allocator could not be replaced");
    }
  }

 private:
  struct Mapping {
    void* base;
    size_t size;
  };
  static void release(void* context) {
    auto* mapping = static_cast<Mapping*>(context);
    munmap(mapping->base, mapping->size);
    delete mapping;
  }

  Side side_ = kAfter;
  c10::Allocator* replaced_ = nullptr;
  uint8_t priority_ = 0;
};

inline GuardedAllocator& guarded_allocator() {
  static GuardedAllocator allocator;
  return allocator;
}

}  // namespace emu
