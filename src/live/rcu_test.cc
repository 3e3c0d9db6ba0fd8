// livemod::rcu: sections nest, synchronize() waits for every section that began before it and
// for no other, reclamation is safe under readers and writers at once, and threads that come
// and go are registered and forgotten.
#include "livemod/rcu.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "os/process_barrier.h"

namespace livemod::rcu {
namespace {

TEST(Rcu, SectionsNestAndTheOutermostEndsTheSection) {
  EXPECT_FALSE(in_read_section());
  read_lock();
  read_lock();
  EXPECT_TRUE(in_read_section());
  read_unlock();
  EXPECT_TRUE(in_read_section());  // still inside the outer section
  read_unlock();
  EXPECT_FALSE(in_read_section());
}

TEST(Rcu, GuardsAndLockUnlockNestInEitherOrder) {
  {
    read_guard outer;
    read_lock();
    {
      read_guard inner;
      EXPECT_TRUE(in_read_section());
    }
    EXPECT_TRUE(in_read_section());
    read_unlock();
    EXPECT_TRUE(in_read_section());
  }
  EXPECT_FALSE(in_read_section());
  read_lock();
  { read_guard g; }
  EXPECT_TRUE(in_read_section());
  read_unlock();
  EXPECT_FALSE(in_read_section());
}

// With `reader` inside a section that began before it, starts a writer (synchronize(), by whose
// return the reader must have `left`); once `ready` holds, the writer must still be waiting.
// Then lets the reader go (`release`), joins both, and the writer must have finished.
void expect_writer_waits_for(std::thread& reader, std::atomic<bool>& release,
                             const std::atomic<bool>& left, const std::atomic<bool>& ready) {
  std::atomic<bool> synchronized{false};
  std::thread writer([&] {
    synchronize();
    synchronized = true;
    EXPECT_TRUE(left.load());
  });
  while (!ready) std::this_thread::yield();
  for (int i = 0; i < 1000 && !synchronized; ++i) std::this_thread::yield();
  EXPECT_FALSE(synchronized.load());
  release = true;
  writer.join();
  reader.join();
  EXPECT_TRUE(synchronized.load());
}

// A section nested in one that began before synchronize() does not start anew: the writer
// waits for the outer section to end, not for the inner one.
TEST(Rcu, ANestedSectionKeepsTheOuterSectionsStart) {
  std::atomic<bool> inside{false}, nested_done{false}, release{false}, left{false};
  std::thread reader([&] {
    read_guard outer;
    inside = true;
    while (!release) {
      read_guard inner;  // entered and left again and again while the writer waits
      nested_done = true;
    }
    left = true;
  });
  while (!inside) std::this_thread::yield();
  expect_writer_waits_for(reader, release, left, nested_done);
}

// A thread_local destroyed after the thread's RCU registration (constructed before the first
// section, so destroyed after it) may still enter sections: they nest and end as usual, and
// writers no longer look at the thread.
TEST(Rcu, SectionsAfterTheThreadUnregisteredStillNest) {
  struct enters_on_exit {
    std::atomic<int>* inside_seen;
    ~enters_on_exit() {
      read_guard g;
      { read_guard nested; }
      if (in_read_section()) inside_seen->fetch_add(1);
      read_lock();
      read_unlock();
      if (in_read_section()) inside_seen->fetch_add(1);
    }
  };
  std::atomic<int> inside_seen{0};
  std::thread t([&] {
    thread_local enters_on_exit late{&inside_seen};
    (void)late;
    read_guard first;  // registers the thread, after `late` was constructed
  });
  t.join();
  EXPECT_EQ(inside_seen.load(), 2);
  synchronize();  // must not wait for, or read, the gone thread
}

TEST(Rcu, SynchronizeWithoutReadersReturns) {
  synchronize();
  { read_guard g; }
  synchronize();  // this thread is registered now, and outside any section
  SUCCEED();
}

// A reader inside a section when synchronize() starts holds it until the section ends: the
// writer can only observe `left` set, which the reader sets just before leaving.
TEST(Rcu, SynchronizeWaitsForASectionThatBeganBeforeIt) {
  std::atomic<bool> inside{false}, release{false}, left{false};
  std::thread reader([&] {
    read_guard g;
    inside = true;
    while (!release) std::this_thread::yield();
    left = true;
  });
  while (!inside) std::this_thread::yield();
  // The writer cannot finish while the reader is inside; then the reader goes.
  expect_writer_waits_for(reader, release, left, inside);
}

struct node {
  std::atomic<int> value{42};
};

// Readers dereference the published node while a writer replaces it and frees the old one
// after synchronize(), poisoning it first: a reader that saw a freed node would read the
// poison (and ASan would report the use after free).
void run_reclamation_stress(int readers, int swaps) {
  node* published = new node;
  std::atomic<bool> stop{false};
  std::atomic<long> bad{0}, reads{0};
  std::atomic<int> started{0};
  std::vector<std::thread> threads;
  for (int r = 0; r < readers; ++r) {
    threads.emplace_back([&] {
      started.fetch_add(1);
      while (!stop.load(std::memory_order_relaxed)) {
        read_guard g;
        node* n = __atomic_load_n(&published, __ATOMIC_CONSUME);
        if (n->value.load(std::memory_order_relaxed) != 42) bad.fetch_add(1);
        reads.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  // Every reader is running before the first swap (on a loaded machine a thread may otherwise
  // start only after the writer is done, and the test would prove nothing).
  while (started.load() < readers) std::this_thread::yield();
  for (int i = 0; i < swaps || reads.load() < swaps; ++i) {
    node* fresh = new node;
    node* old = published;
    __atomic_store_n(&published, fresh, __ATOMIC_RELEASE);
    synchronize();
    old->value.store(-1, std::memory_order_relaxed);
    delete old;
  }
  stop = true;
  for (auto& t : threads) t.join();
  delete published;
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GE(reads.load(), swaps);
}

TEST(Rcu, ReclamationIsSafeUnderConcurrentReaders) { run_reclamation_stress(3, 2000); }

TEST(Rcu, ReclamationIsSafeWithTheTlbShootdownBarrier) {
  os::force_process_barrier_fallback();
  EXPECT_EQ(os::process_barrier_method(), os::barrier_method::tlb_shootdown);
  run_reclamation_stress(2, 500);
}

// Threads that enter a section and exit are unregistered: synchronize() neither waits for
// them nor reads their (gone) thread-local words.
TEST(Rcu, ThreadsThatExitAreForgotten) {
  for (int round = 0; round < 20; ++round) {
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) threads.emplace_back([] { read_guard g; });
    for (auto& t : threads) t.join();
    synchronize();
  }
  SUCCEED();
}

// Two writers at once, and a reader that keeps entering new sections: both writers finish
// (a section begun after a writer advanced the epoch does not hold that writer up).
TEST(Rcu, ConcurrentWritersBothComplete) {
  std::atomic<int> done{0};
  std::thread a([&] { for (int i = 0; i < 200; ++i) synchronize(); ++done; });
  std::thread b([&] { for (int i = 0; i < 200; ++i) synchronize(); ++done; });
  std::thread reader([&] {
    while (done < 2) { read_guard g; }
  });
  a.join();
  b.join();
  reader.join();
  EXPECT_EQ(done.load(), 2);
}

}  // namespace
}  // namespace livemod::rcu
