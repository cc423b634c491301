/* The physical limit of a synaptic event on this machine: one weight added into a
 * ring-buffer slot of a random target, with nothing else around it.
 *
 * Builds the graph of the balanced network (n neurons, the first half excitatory; every
 * neuron draws k distinct sources from each population, as NEST's fixed_indegree without
 * multapses), stores each source's targets in ascending order (as NEST's connections
 * sorted by source), then for `steps` steps of `dt_ms` lets `rate_hz * dt` of the neurons
 * spike at random and, for each spike, adds the source's weight into
 * ring[(step + 1) % slots][target] of every target (a delay of one step); each step every
 * neuron also reads and clears its current slot (the least an update can do).
 * One thread: the figure is events per second per core.
 *
 *   gcc -O3 -march=native -o scatter_add benchmarks/scatter_add.c
 *   ./scatter_add n k rate_hz steps dt_ms seed
 *
 * Prints one JSON line: build_s (CPU seconds to draw the graph and sort it by source),
 * events, deliver_s (CPU seconds of the scatter-adds), update_s (of the
 * slot sweeps), events_per_s (events / deliver_s) and a checksum of the ring.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng_state;

static uint64_t
next_u64( void ) /* splitmix64 */
{
  uint64_t z = ( rng_state += 0x9e3779b97f4a7c15ULL );
  z = ( z ^ ( z >> 30 ) ) * 0xbf58476d1ce4e5b9ULL;
  z = ( z ^ ( z >> 27 ) ) * 0x94d049bb133111ebULL;
  return z ^ ( z >> 31 );
}

static uint32_t
below( uint32_t n ) /* uniform in [0, n) */
{
  return (uint32_t) ( ( ( next_u64() >> 32 ) * (uint64_t) n ) >> 32 );
}

static double
now_s( void ) /* CPU time of this process: what a core spent, whatever else the machine runs */
{
  struct timespec ts;
  clock_gettime( CLOCK_PROCESS_CPUTIME_ID, &ts );
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

int
main( int argc, char** argv )
{
  if ( argc != 7 )
  {
    fprintf( stderr, "usage: %s n k rate_hz steps dt_ms seed\n", argv[ 0 ] );
    return 2;
  }
  const uint32_t n = (uint32_t) strtoul( argv[ 1 ], NULL, 10 );
  const uint32_t k = (uint32_t) strtoul( argv[ 2 ], NULL, 10 );
  const double rate_hz = strtod( argv[ 3 ], NULL );
  const long steps = strtol( argv[ 4 ], NULL, 10 );
  const double dt_ms = strtod( argv[ 5 ], NULL );
  rng_state = strtoull( argv[ 6 ], NULL, 10 );
  const uint32_t n_e = n / 2, n_i = n - n / 2;
  if ( n < 2 || k < 1 || k > n_i || steps < 1 || dt_ms <= 0 )
  {
    fprintf( stderr, "scatter_add: need n >= 2, 1 <= k <= n/2, steps >= 1, dt_ms > 0\n" );
    return 2;
  }
  const uint64_t n_syn = (uint64_t) n * 2 * k;
  const double build_t0 = now_s();
  uint32_t* sources = malloc( sizeof( uint32_t ) * 2 * k );
  uint32_t* drawn = calloc( n, sizeof( uint32_t ) ); /* marks: target + 1 that drew the source */
  uint32_t* outdeg = calloc( n + 1, sizeof( uint32_t ) );
  uint32_t* pre = malloc( sizeof( uint32_t ) * n_syn ); /* source of each synapse, by target */
  if ( !sources || !drawn || !outdeg || !pre )
  {
    fprintf( stderr, "scatter_add: out of memory for %llu synapses\n", (unsigned long long) n_syn );
    return 1;
  }
  for ( uint32_t t = 0; t < n; ++t )
  {
    uint32_t m = 0;
    for ( int pop = 0; pop < 2; ++pop )
    {
      const uint32_t first = pop ? n_e : 0, size = pop ? n_i : n_e;
      for ( uint32_t j = 0; j < k; )
      {
        const uint32_t s = first + below( size );
        if ( drawn[ s ] != t + 1 )
        {
          drawn[ s ] = t + 1;
          sources[ m++ ] = s;
          ++j;
        }
      }
    }
    memcpy( pre + (uint64_t) t * 2 * k, sources, sizeof( uint32_t ) * 2 * k );
    for ( uint32_t j = 0; j < 2 * k; ++j )
      ++outdeg[ sources[ j ] + 1 ];
  }
  uint64_t* start = malloc( sizeof( uint64_t ) * ( n + 1 ) );
  uint32_t* targets = malloc( sizeof( uint32_t ) * n_syn );
  if ( !start || !targets )
  {
    fprintf( stderr, "scatter_add: out of memory for %llu synapses\n", (unsigned long long) n_syn );
    return 1;
  }
  start[ 0 ] = 0;
  for ( uint32_t s = 0; s < n; ++s )
    start[ s + 1 ] = start[ s ] + outdeg[ s + 1 ];
  memset( outdeg, 0, sizeof( uint32_t ) * ( n + 1 ) );
  for ( uint32_t t = 0; t < n; ++t ) /* targets ascending within each source */
    for ( uint32_t j = 0; j < 2 * k; ++j )
    {
      const uint32_t s = pre[ (uint64_t) t * 2 * k + j ];
      targets[ start[ s ] + outdeg[ s ]++ ] = t;
    }
  free( pre );
  free( drawn );
  free( sources );
  const double build_s = now_s() - build_t0;

  const int slots = 2;
  double* ring = calloc( (size_t) slots * n, sizeof( double ) );
  const double w_e = 1.0 / 31.6227766, w_i = -w_e;
  const double p_spike = rate_hz * dt_ms * 1e-3;
  const uint32_t per_step = (uint32_t) ( p_spike * n + 0.5 );
  uint64_t events = 0;
  double deliver_s = 0.0, update_s = 0.0, sum = 0.0;
  for ( long step = 0; step < steps; ++step )
  {
    double t0 = now_s();
    double* now = ring + (size_t) ( step % slots ) * n;
    for ( uint32_t i = 0; i < n; ++i )
    {
      sum += now[ i ];
      now[ i ] = 0.0;
    }
    double t1 = now_s();
    double* next = ring + (size_t) ( ( step + 1 ) % slots ) * n;
    for ( uint32_t j = 0; j < per_step; ++j )
    {
      const uint32_t s = below( n );
      const double w = s < n_e ? w_e : w_i;
      const uint32_t* tg = targets + start[ s ];
      const uint64_t m = start[ s + 1 ] - start[ s ];
      for ( uint64_t q = 0; q < m; ++q )
        next[ tg[ q ] ] += w;
      events += m;
    }
    double t2 = now_s();
    update_s += t1 - t0;
    deliver_s += t2 - t1;
  }
  printf( "{\"n\": %u, \"k\": %u, \"synapses\": %llu, \"steps\": %ld, \"spikes_per_step\": %u, "
          "\"build_s\": %.6f, \"events\": %llu, \"deliver_s\": %.6f, \"update_s\": %.6f, \"events_per_s\": %.6g, "
          "\"checksum\": %.6g}\n",
    n,
    k,
    (unsigned long long) n_syn,
    steps,
    per_step,
    build_s,
    (unsigned long long) events,
    deliver_s,
    update_s,
    deliver_s > 0 ? events / deliver_s : 0.0,
    sum );
  return 0;
}
