// Sizes (bytes) of the NEST structures that grow with the number of connections, read from
// the headers of the installed NEST: compiled and run by benchmarks/memory_breakdown.py.
// Prints one "name bytes" pair per line.
#include <cstdio>

#include "connector_base.h"
#include "source.h"
#include "spike_data.h"
#include "static_synapse.h"
#include "static_synapse_hom_w.h"
#include "target.h"
#include "target_identifier.h"

int
main()
{
  std::printf( "static_synapse %zu\n", sizeof( nest::static_synapse< nest::TargetIdentifierPtrRport > ) );
  std::printf( "static_synapse_hpc %zu\n", sizeof( nest::static_synapse< nest::TargetIdentifierIndex > ) );
  std::printf(
    "static_synapse_hom_w %zu\n", sizeof( nest::static_synapse_hom_w< nest::TargetIdentifierPtrRport > ) );
  std::printf(
    "static_synapse_hom_w_hpc %zu\n", sizeof( nest::static_synapse_hom_w< nest::TargetIdentifierIndex > ) );
  std::printf( "Source %zu\n", sizeof( nest::Source ) );
  std::printf( "Target %zu\n", sizeof( nest::Target ) );
  std::printf( "SpikeData %zu\n", sizeof( nest::SpikeData ) );
  std::printf( "block_vector_block_elements %d\n", max_block_size );
  return 0;
}
