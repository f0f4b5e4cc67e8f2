set terminal pngcairo size 1200,700 noenhanced
set output 'latency.png'
set title "desk latency by percentile (AMD EPYC, 2 CPUs)"
set logscale xy
set xlabel 'percentile'
set ylabel 'latency'
set xtics ('50' 2, '90' 10, '99' 100, '99.9' 1000, '99.99' 10000, '99.999' 100000)
set ytics ('10 ns' 10, '100 ns' 100, '1 us' 1000, '10 us' 1e4, '100 us' 1e5, '1 ms' 1e6, '10 ms' 1e7, '100 ms' 1e8, '1 s' 1e9)
set grid
set key outside right
plot 'latency.dat' index 0 with linespoints lw 2 dt 1 title 'e2e submit_to_routed', 'latency.dat' index 1 with linespoints lw 2 dt 1 title 'e2e submit_to_venue_held', 'latency.dat' index 2 with linespoints lw 2 dt 1 title 'e2e submit_to_ack_seen_null', 'latency.dat' index 3 with linespoints lw 2 dt 1 title 'e2e submit_to_fill_seen_null', 'latency.dat' index 4 with linespoints lw 2 dt 1 title 'e2e submit_to_ack_seen_paper', 'latency.dat' index 5 with linespoints lw 2 dt 1 title 'e2e submit_to_fill_seen_paper', 'latency.dat' index 6 with linespoints lw 2 dt 1 title 'e2e throughput_submit_to_answer_seen', 'latency.dat' index 7 with linespoints lw 2 dt 1 title 'e2e submit_to_fill_seen_paper_journal_none', 'latency.dat' index 8 with linespoints lw 2 dt 1 title 'e2e submit_to_fill_seen_paper_journal_interval10', 'latency.dat' index 9 with linespoints lw 2 dt 1 title 'e2e submit_to_fill_seen_paper_journal_every', 'latency.dat' index 10 with linespoints lw 2 dt 1 title 'net desk_fix_round_trip', 'latency.dat' index 11 with linespoints lw 2 dt 1 title 'net raw_tcp_same_thread', 'latency.dat' index 12 with linespoints lw 2 dt 1 title 'net raw_tcp_cross_core', 'latency.dat' index 13 with linespoints lw 2 dt 2 title 'ring one-way desk', 'latency.dat' index 14 with linespoints lw 2 dt 2 title 'ring one-way ck', 'latency.dat' index 15 with linespoints lw 2 dt 2 title 'ring one-way boost', 'latency.dat' index 16 with linespoints lw 2 dt 2 title 'ring one-way cacheline'
