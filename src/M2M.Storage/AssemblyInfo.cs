using System.Runtime.CompilerServices;

// IdTests checks the name-based UUID helper (DeviceIds.NameBased) against the RFC's example.
[assembly: InternalsVisibleTo("M2M.Storage.Tests")]
