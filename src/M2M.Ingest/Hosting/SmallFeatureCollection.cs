using Microsoft.AspNetCore.Http.Features;

namespace M2M.Ingest.Hosting;

/// <summary>
/// The features of a device connection: the few that Kestrel and its TLS middleware set, in a small
/// array (a <see cref="FeatureCollection"/> keeps a dictionary, about 0.3 KiB per connection).
/// </summary>
internal sealed class SmallFeatureCollection : IFeatureCollection
{
    private KeyValuePair<Type, object>[] _items = new KeyValuePair<Type, object>[4];
    private int _count;

    public bool IsReadOnly => false;

    public int Revision { get; private set; }

    public object? this[Type key]
    {
        get
        {
            for (var i = 0; i < _count; i++)
            {
                if (_items[i].Key == key)
                {
                    return _items[i].Value;
                }
            }
            return null;
        }
        set
        {
            ArgumentNullException.ThrowIfNull(key);
            Revision++;
            for (var i = 0; i < _count; i++)
            {
                if (_items[i].Key == key)
                {
                    if (value is null)
                    {
                        _items[i] = _items[_count - 1];
                        _items[--_count] = default;
                    }
                    else
                    {
                        _items[i] = new(key, value);
                    }
                    return;
                }
            }
            if (value is null)
            {
                return;
            }
            if (_count == _items.Length)
            {
                Array.Resize(ref _items, _count * 2);
            }
            _items[_count++] = new(key, value);
        }
    }

    public TFeature? Get<TFeature>() => (TFeature?)this[typeof(TFeature)];

    public void Set<TFeature>(TFeature? instance) => this[typeof(TFeature)] = instance;

    public IEnumerator<KeyValuePair<Type, object>> GetEnumerator()
    {
        for (var i = 0; i < _count; i++)
        {
            yield return _items[i];
        }
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
