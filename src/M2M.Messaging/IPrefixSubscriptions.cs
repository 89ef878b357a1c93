namespace M2M.Messaging;

/// <summary>
/// A bus that hands every message whose subject starts with a given prefix to one handler in this
/// process. The in-process bus offers it (one prefix check per publish); a broker's bus does not:
/// a wildcard subscription there would bring every node every other node's device pushes. It lets
/// a node route all its connections' pushes through one dispatcher instead of holding a
/// subscription per device and per connection.
/// </summary>
public interface IPrefixSubscriptions
{
    /// <summary>
    /// Calls <paramref name="handler"/> (with the full subject) for each message published on a
    /// subject that starts with <paramref name="prefix"/>, until the returned handle is disposed.
    /// In place when the call returns. The handler has the same rules as a subject's: quick, no waiting.
    /// </summary>
    IDisposable SubscribePrefix(string prefix, Func<string, BusMessage, ValueTask> handler);
}
