from hpsearch.cli import main

main()
