using System.Runtime.CompilerServices;

// The registry tests inject faults between the steps of multi-step operations (RocksRegistry.FaultHook).
[assembly: InternalsVisibleTo("M2M.Storage.Rocks.Tests")]
