// Data-parallel training: turns a Trainer into one replica of a run. At attach, every rank checks that all ranks
// have the same configs and step counters, then takes rank 0's weights, EMAs, teacher and optimizer state; from then
// on each step's gradients are averaged across ranks in flat buckets before clipping and the update, so every rank
// applies the same update and the weights, EMAs and buffers stay identical.
//
// Gradients are all-reduced after backward, not overlapped with it: the trainer hands over the gradients once
// backward is done (it must first see whether the loss was finite), and on CPU with Gloo the communication competes
// with backward for the same cores anyway. The buckets pipeline among themselves.
#pragma once
#include <memory>

#include "core/distributed/buckets.h"
#include "core/distributed/process_group.h"
#include "core/train/trainer.h"

namespace lcmd {

// Collective: every rank of `group` calls it. Throws E_DISTRIBUTED on every rank, naming the ranks that differ,
// when configs or counters disagree.
void attach_process_group(Trainer& trainer, std::shared_ptr<ProcessGroup> group, int64_t bucket_bytes = kDefaultBucketBytes);

// Back to single-process training (local gradients only).
void detach_process_group(Trainer& trainer);

}  // namespace lcmd
